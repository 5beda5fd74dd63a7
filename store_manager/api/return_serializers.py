"""Input and output shapes of the manager's returns routes (SPEC §10). No writes here.

The outputs extend the customer's (`orders.api.return_serializers`): a manager
sees what the customer sees, plus who the customer is, how the order was paid,
and who made each change.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.api.return_serializers import (
    MAX_ID,
    MAX_UNITS,
    ReturnListOutput,
    ReturnOutput,
)
from orders.models import (
    PaymentMethodType,
    PaymentStatus,
    RefundMethod,
    ReturnStatus,
    ReturnStatusHistory,
)
from store_manager.api.serializers import (
    DateRangeInput,
    ManagerActorOutput,
    ManagerCustomerOutput,
)
from store_manager.selectors.returns import ratio

MAX_RETURN_LINES = 100
NOTE_MAX_LENGTH = 500


# --------------------------------------------------------------------------- queries


class ManagerReturnListQuery(DateRangeInput):
    """`status`, and `date_from` / `date_to`: created on these market dates (both included)."""

    status = serializers.ChoiceField(choices=ReturnStatus.choices, required=False)


class ManagerReturnRatesQuery(DateRangeInput):
    """The market dates the orders were created on; the last 30 days by default."""


# --------------------------------------------------------------------------- bodies


class ManagerReturnApproveInput(serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH, default=""
    )


class ManagerReturnRejectInput(serializers.Serializer):
    reason = serializers.CharField(
        max_length=NOTE_MAX_LENGTH, help_text="Why: shown to the customer as `reject_reason`."
    )


class ManagerReturnReceiveLineInput(serializers.Serializer):
    id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The return line's id.")
    received_quantity = serializers.IntegerField(
        min_value=0, max_value=MAX_UNITS, help_text="Units that arrived (at most the line's)."
    )
    damaged_quantity = serializers.IntegerField(
        min_value=0,
        max_value=MAX_UNITS,
        required=False,
        default=0,
        help_text="Of those, units that cannot be sold again (they stay out of stock).",
    )


class ManagerReturnReceiveInput(serializers.Serializer):
    items = ManagerReturnReceiveLineInput(
        many=True,
        allow_empty=False,
        max_length=MAX_RETURN_LINES,
        help_text="Every line of the return, once.",
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH, default=""
    )


class ManagerReturnRefundInput(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.00"),
        required=False,
        help_text="Default: what the received units of the lines to refund were bought for "
        "(`refund_due`), at most what is left to refund. Never more than paid - refunded. "
        "0 settles the return without moving money (nothing arrived, or the order was "
        "refunded already).",
    )
    method = serializers.ChoiceField(
        choices=RefundMethod.choices,
        required=False,
        help_text="Cash-on-delivery orders: cash (default) or bank_transfer. Cards: card.",
    )
    reason = serializers.CharField(
        max_length=NOTE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


# --------------------------------------------------------------------------- outputs


class ManagerReturnCustomerOutput(ManagerCustomerOutput):
    name = serializers.CharField(source="get_full_name", help_text="First and last name.")


class ManagerReturnHistoryOutput(serializers.ModelSerializer):
    changed_by = ManagerActorOutput(allow_null=True, help_text="Null for the system.")

    class Meta:
        model = ReturnStatusHistory
        fields = ("from_status", "to_status", "changed_by", "note", "created_at")
        read_only_fields = fields


_ORDER_FIELDS = ("customer", "payment_method", "payment_status")


class ManagerReturnListOutput(ReturnListOutput):
    customer = ManagerReturnCustomerOutput(source="user")
    payment_method = serializers.ChoiceField(
        choices=PaymentMethodType.choices, source="order.payment_method"
    )
    payment_status = serializers.ChoiceField(
        choices=PaymentStatus.choices, source="order.payment_status"
    )

    class Meta(ReturnListOutput.Meta):
        fields = (*ReturnListOutput.Meta.fields, *_ORDER_FIELDS)
        read_only_fields = fields


class ManagerReturnOutput(ReturnOutput):
    """The customer's return, its customer, the order's payment, and actors in the history."""

    customer = ManagerReturnCustomerOutput(source="user")
    payment_method = serializers.ChoiceField(
        choices=PaymentMethodType.choices, source="order.payment_method"
    )
    payment_status = serializers.ChoiceField(
        choices=PaymentStatus.choices, source="order.payment_status"
    )
    status_history = ManagerReturnHistoryOutput(many=True, read_only=True)

    class Meta(ReturnOutput.Meta):
        fields = (*ReturnOutput.Meta.fields, *_ORDER_FIELDS)
        read_only_fields = fields


_RATIO_SCHEMA = {
    "type": "string",
    "pattern": r"^\d+\.\d{4}$",
    "example": "0.1250",
}


class ManagerReturnRateOutput(serializers.Serializer):
    """One product's units sold in the period and how many of them came (or are coming) back."""

    product_id = serializers.IntegerField(allow_null=True, help_text="Null: deleted products.")
    name = serializers.CharField(help_text="As on the orders.")
    slug = serializers.CharField()
    units_sold = serializers.IntegerField(
        help_text="Units on the period's orders (cancelled and replacement orders left out)."
    )
    units_returned = serializers.IntegerField(
        help_text="Of those, units in returns that are not rejected or cancelled."
    )
    return_rate = serializers.SerializerMethodField(
        help_text="units_returned / units_sold, 4 decimals."
    )
    returned_too_small = serializers.IntegerField(help_text="Returned units: size_too_small.")
    returned_too_large = serializers.IntegerField(help_text="Returned units: size_too_large.")
    size_share = serializers.SerializerMethodField(
        help_text="(returned_too_small + returned_too_large) / units_returned, 4 decimals; "
        "null when nothing was returned."
    )

    @extend_schema_field(_RATIO_SCHEMA)
    def get_return_rate(self, row: dict) -> str:
        return f"{ratio(row['units_returned'], row['units_sold']) or 0:.4f}"

    @extend_schema_field({**_RATIO_SCHEMA, "nullable": True})
    def get_size_share(self, row: dict) -> str | None:
        share = ratio(row["returned_too_small"] + row["returned_too_large"], row["units_returned"])
        return None if share is None else f"{share:.4f}"
