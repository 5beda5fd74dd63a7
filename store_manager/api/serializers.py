"""Input and output shapes of the manager API. No writes here: views call services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from main.markets import Market
from main.serializers import PercentField, currency_field, json_field, market_field
from orders.api.serializers import OrderItemOutput, PaymentOutput, ShippingAddressOutput
from orders.models import (
    Order,
    OrderStatus,
    OrderStatusHistory,
    PaymentMethodType,
    PaymentStatus,
    RefundMethod,
    ReturnStatus,
)
from store_manager.models import (
    DailyReport,
    ManagerActivityLog,
    ManagerNotification,
    ManagerSettings,
    RevenuePeriod,
    StoreManager,
)
from store_manager.selectors.orders import ORDER_ORDERINGS, OrderFilters
from store_manager.services.orders import STATUS_TARGETS

MAX_BULK_ORDERS = 100


# --------------------------------------------------------------------------- profile


class ManagerPermissionsOutput(serializers.Serializer):
    can_view_orders = serializers.BooleanField()
    can_edit_orders = serializers.BooleanField()
    can_cancel_orders = serializers.BooleanField()
    can_view_revenue = serializers.BooleanField()
    can_export_data = serializers.BooleanField()
    can_refund = serializers.BooleanField()


class ManagerMeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    phone = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.CharField()
    role = serializers.ChoiceField(choices=StoreManager.Role.choices)
    active_market = serializers.ChoiceField(choices=Market.choices)
    active_market_permitted = serializers.BooleanField(
        help_text="False when the active market is not one the manager may manage any more."
    )
    markets = serializers.ListField(
        child=serializers.ChoiceField(choices=Market.choices),
        help_text="Markets the manager may switch to.",
    )
    currency = currency_field(help_text="Currency of the active market.")
    time_zone = serializers.CharField(help_text="Time zone of the active market.")
    permissions = ManagerPermissionsOutput(help_text="Effective permissions (role applied).")


class ManagerMeUpdateInput(serializers.Serializer):
    active_market = serializers.ChoiceField(choices=Market.choices)


class ManagerSettingsSerializer(serializers.ModelSerializer):
    """Output of manager/settings/ and the (partial) input of its PATCH."""

    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)

    class Meta:
        model = ManagerSettings
        fields = (
            "email_reports",
            "report_email",
            "notify_new_orders",
            "notify_cancellations",
            "language",
            "default_dashboard_range",
            "updated_at",
        )
        read_only_fields = ("updated_at",)


# --------------------------------------------------------------------------- dates

# Market dates the API accepts: wide enough for any real shop, narrow enough that a
# date plus a day, or its local midnight, is always a valid datetime.
FIRST_MARKET_DATE = date(2000, 1, 1)
LAST_MARKET_DATE = date(2100, 12, 31)


class MarketDateField(serializers.DateField):
    """A calendar date in the market's time zone (`YYYY-MM-DD`), 2000-01-01..2100-12-31."""

    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not FIRST_MARKET_DATE <= day <= LAST_MARKET_DATE:
            raise serializers.ValidationError(
                f"Must be between {FIRST_MARKET_DATE} and {LAST_MARKET_DATE}."
            )
        return day


class DateRangeInput(serializers.Serializer):
    """`date_from` / `date_to`: inclusive market dates, in order."""

    date_from = MarketDateField(required=False, help_text="Market date, included.")
    date_to = MarketDateField(required=False, help_text="Market date, included.")

    def validate(self, attrs):
        date_from, date_to = attrs.get("date_from"), attrs.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
        return attrs


# --------------------------------------------------------------------------- orders


class ManagerOrderFilterInput(DateRangeInput):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    today = serializers.BooleanField(required=False, default=False)
    payment_method = serializers.ChoiceField(choices=PaymentMethodType.choices, required=False)
    payment_status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Order number, phone or name."
    )
    ordering = serializers.ChoiceField(
        choices=[f"{sign}{field}" for field in ORDER_ORDERINGS for sign in ("-", "")],
        required=False,
        default="-created_at",
    )

    def filters(self) -> OrderFilters:
        return OrderFilters(**{"search": "", **self.validated_data})


class ManagerCustomerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    phone = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()


class ManagerOrderListOutput(serializers.ModelSerializer):
    customer = ManagerCustomerOutput(source="user")
    item_count = serializers.IntegerField(source="items_count", help_text="Units in the order.")

    class Meta:
        model = Order
        fields = (
            "order_number",
            "status",
            "payment_method",
            "payment_status",
            "market",
            "currency",
            "total",
            "item_count",
            "customer",
            "shipping_recipient",
            "shipping_phone",
            "shipping_city",
            "created_at",
            "updated_at",
        )


class ManagerOrderItemOutput(OrderItemOutput):
    """The customer's item snapshot (image as an absolute URL), plus the item's id."""

    class Meta(OrderItemOutput.Meta):
        fields = ("id", *OrderItemOutput.Meta.fields)
        read_only_fields = fields


class ManagerActorOutput(serializers.Serializer):
    id = serializers.IntegerField()
    phone = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()


class ManagerHistoryOutput(serializers.ModelSerializer):
    changed_by = ManagerActorOutput(allow_null=True)

    class Meta:
        model = OrderStatusHistory
        fields = ("from_status", "to_status", "changed_by", "note", "created_at")


class ManagerOrderDetailOutput(serializers.ModelSerializer):
    customer = ManagerCustomerOutput(source="user")
    shipping_address = ShippingAddressOutput(source="*")
    items = ManagerOrderItemOutput(many=True)
    status_history = ManagerHistoryOutput(many=True)
    payment = PaymentOutput(source="live_payment", allow_null=True)

    class Meta:
        model = Order
        fields = (
            "order_number",
            "status",
            "payment_method",
            "payment_status",
            "market",
            "currency",
            "customer",
            "shipping_address",
            "items",
            "subtotal",
            "shipping_cost",
            "discount",
            "total",
            "comment",
            "cancel_reason",
            "confirmed_at",
            "shipped_at",
            "delivered_at",
            "cancelled_at",
            "status_history",
            "payment",
            "created_at",
            "updated_at",
        )


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^({'|'.join(STATUS_TARGETS)})$",
        "description": f"One of: {', '.join(STATUS_TARGETS)}.",
    }
)
class _TargetStatusField(serializers.ChoiceField):
    """A subset of the order statuses. A pattern, not an enum: a second `status` enum
    would clash with OrderStatus in the schema's enum names."""


class ManagerStatusInput(serializers.Serializer):
    status = _TargetStatusField(
        choices=STATUS_TARGETS,
        help_text="cancelled and pending are set by …/cancel/ and …/resume/ only.",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class ManagerCancelInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class ManagerResumeInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class ManagerRefundInput(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="Default: everything paid and not yet refunded.",
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    method = serializers.ChoiceField(
        choices=RefundMethod.choices,
        required=False,
        help_text="Cash-on-delivery orders: cash (default) or bank_transfer. Cards: card.",
    )


class ManagerBulkStatusInput(ManagerStatusInput):
    order_numbers = serializers.ListField(
        child=serializers.CharField(max_length=20),
        allow_empty=False,
        max_length=MAX_BULK_ORDERS,
    )

    def validate_order_numbers(self, numbers: list[str]) -> list[str]:
        # As in the order URLs: any case, surrounding spaces ignored, each once.
        return list(dict.fromkeys(number.strip().upper() for number in numbers))


class ManagerBulkStatusOutput(serializers.Serializer):
    updated = serializers.IntegerField()
    orders = ManagerOrderListOutput(many=True)


class ManagerOrderStatusOutput(serializers.ModelSerializer):
    """What a status action returns: the order's new state (the detail has the rest)."""

    class Meta:
        model = Order
        fields = (
            "order_number",
            "status",
            "payment_status",
            "cancel_reason",
            "confirmed_at",
            "shipped_at",
            "delivered_at",
            "cancelled_at",
            "updated_at",
        )


# --------------------------------------------------------------------------- figures


# The payment figures (store_manager/analytics.py): they follow the orders created in the period.
_PAID_HELP = "Captured on the payments of the period's orders (cancelled ones included)."
_REFUNDED_HELP = "Refunded on the payments of the period's orders (cancelled ones included)."
# The return figures (SPEC §10), which follow the orders created in the period as well.
_RETURNS_HELP = "Returns of the period's orders that are not rejected or cancelled."
_NET_HELP = (
    "Revenue less what was refunded on the period's non-cancelled orders "
    "(a cancelled order's refund is only in refunded_amount)."
)


class ManagerFiguresOutput(serializers.Serializer):
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    orders_count = serializers.IntegerField()
    items_sold = serializers.IntegerField()
    average_order_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    cancelled_count = serializers.IntegerField()
    new_customers = serializers.IntegerField()
    paid_amount = serializers.DecimalField(max_digits=14, decimal_places=2, help_text=_PAID_HELP)
    refunded_amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=_REFUNDED_HELP
    )
    returns_count = serializers.IntegerField(help_text=_RETURNS_HELP)
    net_revenue = serializers.DecimalField(max_digits=14, decimal_places=2, help_text=_NET_HELP)


class ManagerBucketOutput(serializers.Serializer):
    start = serializers.DateTimeField(help_text="Start of the period (UTC).")
    local_start = serializers.CharField(help_text="Start on the market's wall clock (ISO 8601).")
    figures = ManagerFiguresOutput()
    source = serializers.ChoiceField(choices=(("snapshot", "snapshot"), ("live", "live")))


class ManagerRevenueInput(DateRangeInput):
    period = serializers.ChoiceField(choices=RevenuePeriod.choices, default=RevenuePeriod.DAILY)


class ManagerRevenueHourlyInput(serializers.Serializer):
    date = MarketDateField(required=False, help_text="Market date; today by default.")


class ManagerRevenueOutput(serializers.Serializer):
    market = market_field()
    currency = currency_field()
    period = serializers.ChoiceField(choices=RevenuePeriod.choices)
    date_from = serializers.DateField(help_text="Effective first date (whole periods).")
    date_to = serializers.DateField(help_text="Effective last date (whole periods).")
    series = ManagerBucketOutput(many=True, source="buckets")
    totals = ManagerFiguresOutput()
    previous_date_from = serializers.DateField()
    previous_date_to = serializers.DateField()
    previous_totals = ManagerFiguresOutput()
    change_percent = PercentField(allow_null=True)


class ManagerDayFiguresOutput(serializers.Serializer):
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    orders_count = serializers.IntegerField()
    average_order_value = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    items_sold = serializers.IntegerField()
    paid_amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_PAID_HELP
    )
    refunded_amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_REFUNDED_HELP
    )
    returns_count = serializers.IntegerField(help_text=_RETURNS_HELP)
    net_revenue = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_NET_HELP
    )


class ManagerChangeOutput(serializers.Serializer):
    """Changes in %, as decimal strings; null when there is nothing to compare with."""

    revenue = PercentField(allow_null=True)
    orders_count = PercentField(allow_null=True)
    average_order_value = PercentField(allow_null=True)
    items_sold = PercentField(allow_null=True)


class ManagerSeriesDayOutput(serializers.Serializer):
    date = serializers.DateField()
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    orders_count = serializers.IntegerField()
    items_sold = serializers.IntegerField()
    returns_count = serializers.IntegerField(help_text=_RETURNS_HELP)
    net_revenue = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_NET_HELP
    )


class ManagerTopProductOutput(serializers.Serializer):
    product_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    slug = serializers.CharField()
    units = serializers.IntegerField()
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)


class ManagerLowStockOutput(serializers.Serializer):
    sku_id = serializers.IntegerField()
    sku_code = serializers.CharField()
    product_id = serializers.IntegerField()
    product_name = serializers.CharField()
    size = serializers.CharField()
    color = serializers.CharField()
    stock = serializers.IntegerField()


class ManagerDashboardOutput(serializers.Serializer):
    market = market_field()
    currency = currency_field()
    date = serializers.DateField(help_text="Today in the market's time zone.")
    generated_at = serializers.DateTimeField()
    revenue_visible = serializers.BooleanField(
        help_text="False without can_view_revenue: every money figure is null."
    )
    today = ManagerDayFiguresOutput()
    yesterday_same_time = ManagerDayFiguresOutput()
    change_percent = ManagerChangeOutput()
    pending_orders = serializers.IntegerField()
    last_7_days = ManagerSeriesDayOutput(many=True)
    top_products = ManagerTopProductOutput(many=True)
    low_stock_threshold = serializers.IntegerField()
    low_stock = ManagerLowStockOutput(many=True)
    unread_notifications = serializers.IntegerField()


class ManagerReportFilterInput(DateRangeInput):
    pass


class ManagerReportTopProductsOutput(serializers.Serializer):
    """The report's best sellers (top 10), twice ordered."""

    by_revenue = ManagerTopProductOutput(many=True)
    by_units = ManagerTopProductOutput(many=True)


class ManagerReportComparedDayOutput(serializers.Serializer):
    """The figures of the day compared with, and the report day's change against it."""

    date = serializers.DateField()
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    orders_count = serializers.IntegerField()
    items_sold = serializers.IntegerField()
    average_order_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    cancelled_count = serializers.IntegerField()
    new_customers = serializers.IntegerField()
    # Not in the comparisons of reports built before payments existed.
    paid_amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, help_text=_PAID_HELP
    )
    refunded_amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, help_text=_REFUNDED_HELP
    )
    # Not in the comparisons of reports built before returns existed.
    returns_count = serializers.IntegerField(required=False, help_text=_RETURNS_HELP)
    net_revenue = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, help_text=_NET_HELP
    )
    currency = currency_field()
    revenue_change_percent = PercentField(allow_null=True)
    orders_change_percent = PercentField(allow_null=True)


class ManagerReportComparisonOutput(serializers.Serializer):
    previous_day = ManagerReportComparedDayOutput()
    same_weekday_last_week = ManagerReportComparedDayOutput()


class ManagerReportOutput(serializers.ModelSerializer):
    top_products = json_field(ManagerReportTopProductsOutput, read_only=True)
    comparison = json_field(
        ManagerReportComparisonOutput,
        read_only=True,
        help_text="Against the previous day and the same weekday last week.",
    )

    class Meta:
        model = DailyReport
        fields = (
            "report_date",
            "market",
            "currency",
            "revenue",
            "orders_count",
            "items_sold",
            "average_order_value",
            "cancelled_count",
            "new_customers",
            "paid_amount",
            "refunded_amount",
            "returns_count",
            "net_revenue",
            "top_products",
            "comparison",
            "generated_at",
            "emailed_at",
        )


# --------------------------------------------------------------------------- notifications


class ManagerNotificationFilterInput(serializers.Serializer):
    priority = serializers.ChoiceField(choices=ManagerNotification.Priority.choices, required=False)
    is_read = serializers.BooleanField(required=False, allow_null=True, default=None)
    since = serializers.DateTimeField(required=False, default=None)


class ManagerNotificationDataOutput(serializers.Serializer):
    """What a notification refers to; the keys depend on its `type`."""

    market = market_field(required=False)
    order_number = serializers.CharField(required=False, help_text="new_order, order_cancelled.")
    total = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, help_text="new_order."
    )
    from_status = serializers.ChoiceField(
        choices=OrderStatus.choices, required=False, help_text="order_cancelled."
    )
    report_date = serializers.DateField(required=False, help_text="report_ready.")
    report_id = serializers.IntegerField(required=False, help_text="report_ready.")


class ManagerNotificationOutput(serializers.ModelSerializer):
    data = json_field(ManagerNotificationDataOutput, read_only=True)

    class Meta:
        model = ManagerNotification
        fields = ("id", "type", "priority", "title", "message", "data", "is_read", "created_at")


class ManagerCountOutput(serializers.Serializer):
    count = serializers.IntegerField()


class ManagerMarkedOutput(serializers.Serializer):
    marked = serializers.IntegerField()


class ManagerActivityFilterInput(DateRangeInput):
    manager = serializers.IntegerField(required=False, help_text="Admins only: one manager's id.")
    action = serializers.CharField(required=False, max_length=50)
    object_type = serializers.CharField(required=False, max_length=50)
    object_id = serializers.CharField(required=False, max_length=64)


class ManagerActivityManagerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    phone = serializers.CharField(source="user.phone")
    first_name = serializers.CharField(source="user.first_name")
    last_name = serializers.CharField(source="user.last_name")


# An activity row's `status` is an order's or a return's (`object_type` says which).
ACTIVITY_STATUSES = tuple(dict.fromkeys((*OrderStatus.values, *ReturnStatus.values)))


class ManagerActivityValuesOutput(serializers.Serializer):
    """The values an action changed (only those it changed)."""

    status = serializers.ChoiceField(
        choices=ACTIVITY_STATUSES,
        required=False,
        help_text="The order's status, or the return's when `object_type` is `return`.",
    )
    active_market = market_field(required=False)
    email_reports = serializers.BooleanField(required=False)
    report_email = serializers.CharField(required=False)
    notify_new_orders = serializers.BooleanField(required=False)
    notify_cancellations = serializers.BooleanField(required=False)
    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)
    default_dashboard_range = serializers.ChoiceField(
        choices=ManagerSettings.DashboardRange.choices, required=False
    )
    amount_refunded = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, help_text="order_refunded."
    )


class ManagerActivityFiltersOutput(serializers.Serializer):
    """The filters of an export (only those that were set)."""

    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    today = serializers.BooleanField(required=False)
    payment_method = serializers.ChoiceField(choices=PaymentMethodType.choices, required=False)
    payment_status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    search = serializers.CharField(required=False)
    ordering = serializers.CharField(required=False)


class ManagerActivityMetadataOutput(serializers.Serializer):
    """Details of the action; the keys depend on `action`."""

    note = serializers.CharField(required=False, help_text="Order status actions.")
    before = ManagerActivityValuesOutput(required=False)
    after = ManagerActivityValuesOutput(required=False)
    filters = ManagerActivityFiltersOutput(required=False, help_text="orders_exported.")
    format = serializers.CharField(required=False, help_text="orders_exported: csv.")
    reason = serializers.CharField(required=False, help_text="order_refunded.")
    method = serializers.ChoiceField(
        choices=RefundMethod.choices, required=False, help_text="order_refunded."
    )
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, help_text="order_refunded."
    )


class ManagerActivityOutput(serializers.ModelSerializer):
    manager = ManagerActivityManagerOutput(allow_null=True)
    metadata = json_field(ManagerActivityMetadataOutput, read_only=True)

    class Meta:
        model = ManagerActivityLog
        fields = (
            "id",
            "manager",
            "action",
            "object_type",
            "object_id",
            "market",
            "description",
            "metadata",
            "ip_address",
            "user_agent",
            "created_at",
        )
