from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from main.markets import Market, market_config
from main.models import TimeStampedModel, market_check
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
            market_check("user_market_valid"),
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


class VerificationCode(models.Model):
    """A one-time SMS code. Only its keyed hash is stored, never the code."""

    class Purpose(models.TextChoices):
        LOGIN = "login", "Login"
        PHONE_CHANGE = "phone_change", "Phone change"

    phone = models.CharField(max_length=16)
    code_hash = models.CharField(max_length=128)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.LOGIN)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)
    requester_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("phone", "created_at"), name="otp_phone_created_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} code for {self.phone} at {self.created_at:%Y-%m-%d %H:%M}"


class Address(TimeStampedModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(max_length=50, blank=True, help_text="e.g. Home, Work")
    recipient_name = models.CharField(max_length=150)
    phone = models.CharField(max_length=16)
    city = models.CharField(max_length=100)
    street = models.CharField(max_length=200)
    building = models.CharField(max_length=50)
    apartment = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    notes = models.CharField(max_length=500, blank=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ("-is_default", "-created_at")
        verbose_name_plural = "addresses"
        constraints = [
            models.UniqueConstraint(
                fields=("user",),
                condition=models.Q(is_default=True),
                name="address_one_default_per_user",
            ),
        ]

    def __str__(self) -> str:
        label = f"{self.label}: " if self.label else ""
        return f"{label}{self.city}, {self.street} {self.building}"


class PaymentMethod(TimeStampedModel):
    """A card saved at the payment provider. Only its token and display facts live here."""

    class Provider(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        FREEDOM_PAY = "freedom_pay", "Freedom Pay"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="payment_methods")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    provider_token = models.CharField(max_length=255)
    brand = models.CharField(max_length=20, blank=True, help_text="visa, mastercard, elcart…")
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    holder_name = models.CharField(max_length=150, blank=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ("-is_default", "-created_at")
        constraints = [
            models.UniqueConstraint(
                fields=("user",),
                condition=models.Q(is_default=True),
                name="payment_method_one_default_per_user",
            ),
            models.UniqueConstraint(
                fields=("provider", "provider_token"), name="payment_method_token_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(exp_month__gte=1, exp_month__lte=12),
                name="payment_method_exp_month_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(last4__regex=r"^[0-9]{4}$"), name="payment_method_last4_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand or 'card'} •••• {self.last4} ({self.exp_month:02d}/{self.exp_year})"


class Notification(models.Model):
    """An in-app message to a customer."""

    class Type(models.TextChoices):
        ORDER_STATUS = "order_status", "Order status"
        PAYMENT = "payment", "Payment"
        RETURN = "return", "Return"
        PROMO = "promo", "Promotion"
        SYSTEM = "system", "System"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.SYSTEM)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    is_read = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(
                fields=("user", "is_read", "created_at"), name="notif_user_read_created_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.user_id}"
