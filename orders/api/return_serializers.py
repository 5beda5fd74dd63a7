"""Returns API shapes (SPEC §10): what a customer sends and reads. Managers extend the output."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from main.serializers import AbsoluteMediaField
from orders.models import ReturnImage, ReturnItem, ReturnReason, ReturnRequest, ReturnStatus
from orders.services.returns import RETURN_MAX_IMAGES, RETURN_NOTE_MAX_LENGTH, refund_due

# Ids are BigAutoField: a larger number could never match and would overflow the column.
MAX_ID = 2**63 - 1
MAX_UNITS = 10_000


class ReturnLineInput(serializers.Serializer):
    order_item_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS)
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    exchange_sku_id = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        default=None,
        help_text="Another size or colour of the same product: its units are held at once.",
    )


class ReturnCreateInput(serializers.Serializer):
    """JSON, or multipart with `items` as a JSON text and `images` repeated once per file."""

    def validate_order_number(self, value: str) -> str:
        return value.upper()  # as printed, in any case (like the paths)

    order_number = serializers.CharField(max_length=20)
    items = ReturnLineInput(many=True, allow_empty=False, max_length=100)
    note = serializers.CharField(
        max_length=RETURN_NOTE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    images = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        required=False,
        default=list,
        max_length=RETURN_MAX_IMAGES,
    )


class ReturnListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReturnStatus.choices, required=False)


class ExchangeOutput(serializers.Serializer):
    sku_id = serializers.IntegerField(source="exchange_sku_id", allow_null=True)
    sku_code = serializers.CharField(source="exchange_sku_code")
    size = serializers.CharField(source="exchange_size")
    color = serializers.CharField(source="exchange_color")


class ReturnItemOutput(serializers.ModelSerializer):
    order_item_id = serializers.IntegerField()
    product_id = serializers.IntegerField(source="order_item.product_id", allow_null=True)
    product_name = serializers.CharField(source="order_item.product_name")
    product_slug = serializers.CharField(source="order_item.product_slug")
    sku_code = serializers.CharField(source="order_item.sku_code")
    size = serializers.CharField(source="order_item.size")
    color = serializers.CharField(source="order_item.color")
    image = AbsoluteMediaField(source="order_item.image")
    unit_price = serializers.DecimalField(
        source="order_item.unit_price", max_digits=12, decimal_places=2
    )
    exchange = serializers.SerializerMethodField()

    class Meta:
        model = ReturnItem
        fields = (
            "id",
            "order_item_id",
            "product_id",
            "product_name",
            "product_slug",
            "sku_code",
            "size",
            "color",
            "image",
            "unit_price",
            "quantity",
            "reason",
            "exchange",
            "received_quantity",
            "damaged_quantity",
        )
        read_only_fields = fields

    @extend_schema_field(ExchangeOutput(allow_null=True))
    def get_exchange(self, item: ReturnItem) -> dict | None:
        return ExchangeOutput(item).data if item.is_exchange else None


class ReturnImageOutput(serializers.ModelSerializer):
    url = AbsoluteMediaField(source="image")

    class Meta:
        model = ReturnImage
        fields = ("id", "url", "sort_order")
        read_only_fields = fields


class ReturnHistoryOutput(serializers.Serializer):
    from_status = serializers.ChoiceField(choices=ReturnStatus.choices, allow_null=True)
    to_status = serializers.ChoiceField(choices=ReturnStatus.choices)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReturnListOutput(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.order_number")
    items = ReturnItemOutput(many=True, read_only=True)
    replacement_order_number = serializers.CharField(
        source="replacement_order.order_number", allow_null=True, default=None
    )
    can_cancel = serializers.SerializerMethodField()

    class Meta:
        model = ReturnRequest
        fields = (
            "return_number",
            "order_number",
            "status",
            "market",
            "currency",
            "items",
            "refunded_amount",
            "replacement_order_number",
            "can_cancel",
            "created_at",
        )
        read_only_fields = fields

    def get_can_cancel(self, ret: ReturnRequest) -> bool:
        return ret.status == ReturnStatus.REQUESTED


class ReturnOutput(ReturnListOutput):
    images = ReturnImageOutput(many=True, read_only=True)
    status_history = ReturnHistoryOutput(many=True, read_only=True)
    refund_due = serializers.SerializerMethodField(
        help_text="What the received units of the lines to refund were bought for."
    )

    class Meta(ReturnListOutput.Meta):
        fields = (
            *ReturnListOutput.Meta.fields,
            "note",
            "reject_reason",
            "refund_due",
            "images",
            "status_history",
            "approved_at",
            "received_at",
            "closed_at",
            "updated_at",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2))
    def get_refund_due(self, ret: ReturnRequest) -> str:
        return f"{refund_due(ret, lines=ret.items.all()):.2f}"
