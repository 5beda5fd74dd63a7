from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from main.markets import CatalogMarket
from main.models import CatalogQuerySet, TimeStampedModel, market_check


class BannerQuerySet(CatalogQuerySet):
    def live(self, market: str, *, now=None):
        """Visible in `market` and inside the date window (open ends allowed)."""
        now = now or timezone.now()
        return (
            self.visible_to(market)
            .filter(models.Q(starts_at__isnull=True) | models.Q(starts_at__lte=now))
            .filter(models.Q(ends_at__isnull=True) | models.Q(ends_at__gt=now))
        )


class Banner(TimeStampedModel):
    class Type(models.TextChoices):
        HERO = "hero", "Hero"
        PROMO = "promo", "Promo"
        CATEGORY = "category", "Category"

    title = models.CharField(max_length=200)
    subtitle = models.CharField(max_length=300, blank=True)
    image = models.ImageField(upload_to="banners/")
    mobile_image = models.ImageField(upload_to="banners/mobile/", blank=True)
    link_url = models.CharField(
        max_length=500, blank=True, help_text="Path or URL the banner opens."
    )
    banner_type = models.CharField(max_length=10, choices=Type.choices, default=Type.HERO)
    category = models.ForeignKey(
        "products.Category",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="banners",
    )
    market = models.CharField(
        max_length=3, choices=CatalogMarket.choices, default=CatalogMarket.ALL
    )
    sort_order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    # Counters are only ever incremented with F() by the banner services.
    view_count = models.PositiveIntegerField(default=0)
    click_count = models.PositiveIntegerField(default=0)

    objects = BannerQuerySet.as_manager()

    class Meta:
        ordering = ("banner_type", "sort_order", "-created_at")
        constraints = [
            market_check("banner_market_valid", catalog=True),
            models.CheckConstraint(
                condition=models.Q(banner_type__in=["hero", "promo", "category"]),
                name="banner_type_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="banner_window_ordered",
            ),
        ]
        indexes = [
            models.Index(
                fields=("market", "is_active", "banner_type"), name="banner_market_active_type_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_banner_type_display()}: {self.title} ({self.market})"

    @property
    def ctr(self) -> Decimal:
        """Click-through rate in percent, two places; 0 before the first view."""
        if not self.view_count:
            return Decimal("0.00")
        return (Decimal(self.click_count) * 100 / Decimal(self.view_count)).quantize(
            Decimal("0.01")
        )
