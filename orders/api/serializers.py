"""Orders API shapes (SPEC §4). Output serializers read; input serializers only parse."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from main.serializers import AbsoluteMediaField
from orders.models import (
    Order,
    OrderItem,
    OrderStatus,
    OrderStatusHistory,
    Payment,
    PaymentMethodType,
    Refund,
)
from orders.services.payments import AWAITING_CUSTOMER, AWAITING_ORDER
from orders.services.returns import return_window
from orders.services.transitions import CUSTOMER_CANCELLABLE
from users.api.serializers import AddressInput


class InlineAddressInput(AddressInput):
    """An address typed at checkout: the saved-address fields without label and default."""

    label = None
    is_default = None


class CheckoutInput(serializers.Serializer):
    address_id = serializers.IntegerField(required=False, min_value=1)
    address = InlineAddressInput(required=False)
    # Any string: a method the market does not offer is 400 payment_method_unavailable (SPEC §8).
    payment_method = serializers.CharField(
        max_length=40,
        help_text=f"One of {', '.join(PaymentMethodType.values)} that your market offers.",
    )
    payment_method_id = serializers.IntegerField(required=False, min_value=1)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    expected_total = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, min_value=0
    )

    def validate(self, attrs):
        if ("address_id" in attrs) == ("address" in attrs):
            raise serializers.ValidationError({"address": ["Give either address_id or address."]})
        return attrs


class PaymentRetryInput(serializers.Serializer):
    payment_method_id = serializers.IntegerField(required=False, min_value=1)


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class OrderListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)


class OrderItemOutput(serializers.ModelSerializer):
    image = AbsoluteMediaField()

    class Meta:
        model = OrderItem
        fields = (
            "product_id",
            "product_name",
            "product_slug",
            "sku_id",
            "sku_code",
            "size",
            "color",
            "image",
            "unit_price",
            "quantity",
            "line_total",
        )
        read_only_fields = fields


class StatusHistoryOutput(serializers.ModelSerializer):
    class Meta:
        model = OrderStatusHistory
        fields = ("from_status", "to_status", "note", "created_at")
        read_only_fields = fields


class ShippingAddressOutput(serializers.Serializer):
    recipient_name = serializers.CharField(source="shipping_recipient")
    phone = serializers.CharField(source="shipping_phone")
    city = serializers.CharField(source="shipping_city")
    street = serializers.CharField(source="shipping_street")
    building = serializers.CharField(source="shipping_building")
    apartment = serializers.CharField(source="shipping_apartment")
    postal_code = serializers.CharField(source="shipping_postal_code")
    notes = serializers.CharField(source="shipping_notes")


class RefundOutput(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ("amount", "method", "status", "reason", "created_at")
        read_only_fields = fields


class PaymentOutput(serializers.ModelSerializer):
    """The `payment` block of an order (SPEC §8), amounts in the order's currency."""

    refunds = RefundOutput(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = (
            "provider",
            "status",
            "amount",
            "amount_authorized",
            "amount_captured",
            "amount_refunded",
            "expires_at",
            "last_error",
            "refunds",
        )
        read_only_fields = fields


class CustomerPaymentOutput(PaymentOutput):
    """The customer's view adds what Stripe.js needs to confirm, while it is needed."""

    client_secret = serializers.SerializerMethodField()

    class Meta(PaymentOutput.Meta):
        fields = (*PaymentOutput.Meta.fields, "client_secret")
        read_only_fields = fields

    def get_client_secret(self, payment: Payment) -> str | None:
        if payment.status in AWAITING_CUSTOMER and payment.order.status in AWAITING_ORDER:
            return payment.client_secret or None
        return None


class OrderListOutput(serializers.ModelSerializer):
    items = OrderItemOutput(many=True, read_only=True)
    item_count = serializers.SerializerMethodField()
    can_cancel = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = (
            "order_number",
            "status",
            "payment_method",
            "payment_status",
            "market",
            "currency",
            "items",
            "item_count",
            "subtotal",
            "shipping_cost",
            "discount",
            "total",
            "can_cancel",
            "is_replacement",
            "created_at",
        )
        read_only_fields = fields

    def get_item_count(self, order: Order) -> int:
        return sum(item.quantity for item in order.items.all())

    def get_can_cancel(self, order: Order) -> bool:
        return order.status in CUSTOMER_CANCELLABLE


class OrderOutput(OrderListOutput):
    shipping_address = ShippingAddressOutput(source="*", read_only=True)
    status_history = StatusHistoryOutput(many=True, read_only=True)
    payment = CustomerPaymentOutput(source="live_payment", read_only=True, allow_null=True)
    returnable_until = serializers.SerializerMethodField()

    class Meta(OrderListOutput.Meta):
        fields = (
            *OrderListOutput.Meta.fields,
            "shipping_address",
            "comment",
            "status_history",
            "confirmed_at",
            "shipped_at",
            "delivered_at",
            "cancelled_at",
            "cancel_reason",
            "payment",
            "returnable_until",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_returnable_until(self, order: Order):
        """Until when items may be returned (`POST returns/`); null unless delivered."""
        if order.status != OrderStatus.DELIVERED or order.delivered_at is None:
            return None
        if order.is_replacement:
            return None
        until = order.delivered_at + return_window(order.market)
        return serializers.DateTimeField().to_representation(until)
