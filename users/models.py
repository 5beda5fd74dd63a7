from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from main.markets import Market, market_config
from users.managers import UserManager


class User(AbstractBaseUser, PermissionsMixin):
    """A customer, a store manager or staff: everyone signs in with a phone."""

    phone = models.CharField(
        max_length=16, unique=True, help_text="E.164, e.g. +996700123456. Also the login."
    )
    market = models.CharField(
        max_length=2, choices=Market.choices, help_text="Set from the phone's country code."
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)
    language = models.CharField(max_length=5, choices=settings.LANGUAGES, default="en")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "phone"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ("-date_joined",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(market__in=Market.values), name="user_market_valid"
            ),
        ]
        indexes = [models.Index(fields=("market", "date_joined"), name="user_market_joined_idx")]

    def __str__(self) -> str:
        return self.get_full_name() or self.phone

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.phone

    @property
    def currency(self) -> str:
        return market_config(self.market).currency
