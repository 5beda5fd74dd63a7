"""Input and output shapes of the account endpoints (`users/me/…`). No writes here."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from main.exceptions import ApplicationError
from main.markets import parse_phone
from main.serializers import currency_field, json_field, market_field
from users.models import Address, Notification, PaymentMethod, User
from users.services.accounts import ADDRESS_FIELDS

# --- Profile -----------------------------------------------------------------------------


class ProfileOutput(serializers.ModelSerializer):
    currency = currency_field(read_only=True)

    class Meta:
        model = User
        fields = (
            "id",
            "phone",
            "market",
            "currency",
            "first_name",
            "last_name",
            "email",
            "language",
            "date_joined",
        )
        read_only_fields = fields


@extend_schema_field(market_field())
class _MarketEchoField(serializers.CharField):
    """The account's market sent back unchanged (any case): documented as the market enum."""


class ProfileUpdateInput(serializers.Serializer):
    """`phone` and `market` are read-only: the same value is accepted, another is refused."""

    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)
    phone = serializers.CharField(
        required=False, write_only=True, help_text="Read-only; change it with users/me/phone/."
    )
    market = _MarketEchoField(
        required=False, write_only=True, help_text="Read-only; follows the phone."
    )

    def validate_phone(self, value: str) -> str:
        try:
            user = self.context["user"]
            same = parse_phone(value, market=user.market).e164 == user.phone
        except ApplicationError:
            same = False
        if not same:
            raise serializers.ValidationError(
                "The phone cannot be changed here; use users/me/phone/."
            )
        return value

    def validate_market(self, value: str) -> str:
        if value.strip().upper() != self.context["user"].market:
            raise serializers.ValidationError(
                "The market follows your phone number and cannot be changed."
            )
        return value


# --- Addresses ----------------------------------------------------------------------------


class AddressOutput(serializers.ModelSerializer):
    class Meta:
        model = Address
        # The address fields the service writes, in its order.
        fields = ("id", *ADDRESS_FIELDS, "is_default", "created_at", "updated_at")
        read_only_fields = fields


class AddressInput(serializers.Serializer):
    """Create (all required fields) or, with `partial=True`, PATCH."""

    label = serializers.CharField(max_length=50, required=False, allow_blank=True)
    recipient_name = serializers.CharField(max_length=150)
    phone = serializers.CharField(max_length=32, help_text="International format; stored as E.164.")
    city = serializers.CharField(max_length=100)
    street = serializers.CharField(max_length=200)
    building = serializers.CharField(max_length=50)
    apartment = serializers.CharField(max_length=50, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=500, required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)


# --- Payment methods -----------------------------------------------------------------------


class PaymentMethodOutput(serializers.ModelSerializer):
    """Never includes `provider_token`."""

    class Meta:
        model = PaymentMethod
        fields = (
            "id",
            "provider",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "holder_name",
            "is_default",
            "created_at",
        )
        read_only_fields = fields


class PaymentMethodCreateInput(serializers.Serializer):
    provider = serializers.ChoiceField(choices=PaymentMethod.Provider.choices)
    provider_token = serializers.CharField(
        max_length=255, help_text="The provider's token for the card (e.g. Stripe pm_…)."
    )
    brand = serializers.CharField(max_length=20, required=False, allow_blank=True)
    last4 = serializers.RegexField(r"^[0-9]{4}$", help_text="Last four digits only.")
    exp_month = serializers.IntegerField(min_value=1, max_value=12)
    exp_year = serializers.IntegerField(min_value=2000, max_value=2100)
    holder_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)


class PaymentMethodUpdateInput(serializers.Serializer):
    """Only these two change; any other field is refused (save a new card instead)."""

    holder_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    name: ["This field cannot be changed; save the card again instead."]
                    for name in unknown
                }
            )
        return attrs


# --- Notifications --------------------------------------------------------------------------


class NotificationDataOutput(serializers.Serializer):
    """What a notification refers to: the order of an `order_status` one; empty otherwise."""

    order_number = serializers.CharField(required=False)
    status = serializers.CharField(required=False, help_text="The order's new status.")
    event = serializers.IntegerField(required=False, help_text="Id of the event it reports.")


class NotificationOutput(serializers.ModelSerializer):
    data = json_field(NotificationDataOutput, read_only=True)

    class Meta:
        model = Notification
        fields = ("id", "type", "title", "body", "data", "is_read", "created_at")
        read_only_fields = fields


class NotificationFilterInput(serializers.Serializer):
    """Validated from `query_params.dict()`: a missing `is_read` means "all"."""

    is_read = serializers.BooleanField(required=False, allow_null=True, default=None)
    since = serializers.DateTimeField(required=False, default=None)


class CountOutput(serializers.Serializer):
    count = serializers.IntegerField()


class MarkedOutput(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications changed to read.")
