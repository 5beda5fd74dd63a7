"""Verified-buyer reviews and their images.

The tables keep the names they had when the models lived in `orders`
(`orders_review`, `orders_reviewimage`): the move to this app changed Django's
state only, not the database (reviews/migrations/0001_initial.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from main.models import TimeStampedModel


class ReviewFit(models.TextChoices):
    RUNS_SMALL = "runs_small", "Runs small"
    TRUE_TO_SIZE = "true_to_size", "True to size"
    RUNS_LARGE = "runs_large", "Runs large"


class Review(TimeStampedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews"
    )
    product = models.ForeignKey(
        "products.Product", on_delete=models.CASCADE, related_name="reviews"
    )
    order_item = models.ForeignKey(
        "orders.OrderItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviews",
    )
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True)
    fit = models.CharField(max_length=20, choices=ReviewFit.choices, blank=True)
    is_approved = models.BooleanField(default=False)

    class Meta:
        db_table = "orders_review"
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("user", "product"), name="review_user_product_unique"),
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_range"
            ),
        ]
        indexes = [
            models.Index(
                fields=("product", "is_approved", "created_at"), name="review_product_approved_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.product_id} by {self.user_id}"


class ReviewImage(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="reviews/")
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "orders_reviewimage"
        ordering = ("review", "sort_order", "id")

    def __str__(self) -> str:
        return f"Image #{self.sort_order} of review {self.review_id}"
