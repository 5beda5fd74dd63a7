from django.contrib import admin

from main.admin_mixins import (
    MarketTimeZoneAdminMixin,
    StatusPanelAdminMixin,
    SuperuserOnlyAdminMixin,
    ViewOnlyAdminMixin,
    market_time_column,
    short_column,
    thumbnail_column,
)
from main.exceptions import ApplicationError
from orders.models import (
    SHIPPING_FIELDS,
    IdempotencyKey,
    Order,
    OrderItem,
    OrderStatus,
    OrderStatusHistory,
    Payment,
    ProviderEvent,
    Refund,
    ReturnImage,
    ReturnItem,
    ReturnRequest,
    ReturnStatus,
    ReturnStatusHistory,
)
from orders.services.returns import TRANSITIONS as RETURN_TRANSITIONS
from orders.services.returns import return_transition
from orders.services.transitions import TRANSITIONS, order_transition

ITEM_SNAPSHOT = (
    "product_name",
    "sku_code",
    "size",
    "color",
    "unit_price",
    "quantity",
    "line_total",
)
HISTORY = ("created_at", "from_status", "to_status", "changed_by", "note")


# The image kept at checkout, on the order's lines and the order item pages.
_item_image = thumbnail_column("image", "Image", size=48)


class OrderItemInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = OrderItem
    fields = readonly_fields = ("picture", *ITEM_SNAPSHOT)
    picture = _item_image


class OrderStatusHistoryInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = OrderStatusHistory
    fields = readonly_fields = HISTORY

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


PAYMENT_FIELDS = (
    "provider",
    "provider_ref",
    "status",
    "amount",
    "amount_authorized",
    "amount_captured",
    "amount_refunded",
    "expires_at",
    "last_error",
    "created_at",
)


class PaymentInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = Payment
    fields = readonly_fields = PAYMENT_FIELDS
    verbose_name_plural = "payments (read-only: the payment service writes them)"


# The order page's buttons, one per status an order may move to (SPEC §4), in this order.
STATUS_BUTTONS: dict[str, str] = {
    OrderStatus.CONFIRMED: "Confirm",
    OrderStatus.PROCESSING: "Mark processing",
    OrderStatus.SHIPPED: "Mark shipped",
    OrderStatus.DELIVERED: "Mark delivered",
    OrderStatus.CANCELLED: "Cancel order",
    OrderStatus.PENDING: "Resume order",
}


@admin.register(Order)
class OrderAdmin(MarketTimeZoneAdminMixin, StatusPanelAdminMixin, admin.ModelAdmin):
    """Orders come only from checkout and change status only through the order service.

    Everything is read-only here: money, address and status are snapshots or belong
    to the services that write the history, and `payment_status` is derived from the
    payment (orders.services.payments). Status moves are the buttons on the order
    page (with a note) and the bulk actions of the list (StatusPanelAdminMixin),
    both through `order_transition`.
    """

    status_labels = STATUS_BUTTONS
    # The customer reads the reason of a cancellation (cancel_reason): it is asked for.
    status_note_required = frozenset({OrderStatus.CANCELLED})
    status_note_help = (
        "The customer sees it in the order's history (and, on a cancellation, as its "
        "reason): write it for them."
    )
    list_display = (
        "order_number",
        "user",
        "market",
        "status",
        "pay_by",
        "paid",
        "total",
        "cur",
        "created_local",
    )
    list_filter = ("market", "status", "created_at", "payment_status", "payment_method")
    pay_by = short_column("payment_method", "Pay by")
    paid = short_column("payment_status", "Payment")
    cur = short_column("currency", "Cur.", stored=True)
    list_select_related = ("user",)
    search_fields = ("order_number", "user__phone", "shipping_phone", "shipping_recipient")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("order_number", "user", "market", "currency", "status")}),
        ("Payment", {"fields": ("payment_method", "payment_status")}),
        ("Money", {"fields": ("subtotal", "shipping_cost", "discount", "total")}),
        (
            "Shipping address",
            {"fields": SHIPPING_FIELDS},
        ),
        ("Customer comment", {"fields": ("comment",)}),
        (
            "Milestones",
            {
                "fields": (
                    "created_at",
                    "confirmed_at",
                    "shipped_at",
                    "delivered_at",
                    "cancelled_at",
                    "cancel_reason",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])
    inlines = (OrderItemInline, OrderStatusHistoryInline, PaymentInline)
    created_local = market_time_column("created_at", "placed (market time)")
    actions = (
        "move_to_confirmed",
        "move_to_processing",
        "move_to_shipped",
        "move_to_delivered",
        "move_to_cancelled",
        "resume",
    )

    def status_moves(self, obj: Order) -> frozenset[str]:
        return TRANSITIONS[obj.status]

    def status_move(
        self, request, obj: Order, to_status: str, note: str, from_status: str
    ) -> str | None:
        """`order_transition`: the order locked, money and stock moved, history, notices."""
        try:
            order_transition(
                order=obj,
                to_status=to_status,
                actor=request.user,
                note=note,
                by_manager=True,
                allowed_from=frozenset({from_status}),
            )
        except ApplicationError as error:
            return str(error.detail)
        return None

    # ------------------------------------------------------------------ the list's actions

    @admin.action(description="Confirm selected orders", permissions=("change",))
    def move_to_confirmed(self, request, queryset):
        self.status_move_many(request, queryset, OrderStatus.CONFIRMED)

    @admin.action(description="Mark selected orders processing", permissions=("change",))
    def move_to_processing(self, request, queryset):
        self.status_move_many(request, queryset, OrderStatus.PROCESSING)

    @admin.action(description="Mark selected orders shipped", permissions=("change",))
    def move_to_shipped(self, request, queryset):
        self.status_move_many(request, queryset, OrderStatus.SHIPPED)

    @admin.action(description="Mark selected orders delivered", permissions=("change",))
    def move_to_delivered(self, request, queryset):
        self.status_move_many(request, queryset, OrderStatus.DELIVERED)

    @admin.action(
        description="Cancel selected orders (asks for the reason; stock returns)",
        permissions=("change",),
    )
    def move_to_cancelled(self, request, queryset):
        """A page asking for the reason (the customer reads it as `cancel_reason`)."""
        return self.status_move_many_with_reason(
            request, queryset, OrderStatus.CANCELLED, title="Cancel orders"
        )

    @admin.action(
        description="Resume cancelled orders (stock is taken again)", permissions=("change",)
    )
    def resume(self, request, queryset):
        self.status_move_many(request, queryset, OrderStatus.PENDING)


@admin.register(OrderItem)
class OrderItemAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "picture",
        "order",
        "product_name",
        "sku_code",
        "size",
        "color",
        "quantity",
        "line_total",
    )
    list_display_links = ("picture", "order")
    readonly_fields = ("picture",)
    picture = _item_image
    list_select_related = ("order",)
    list_filter = ("order__market",)
    search_fields = ("order__order_number", "sku_code", "product_name")


@admin.register(OrderStatusHistory)
class OrderStatusHistoryAdmin(MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    market_field = "order.market"
    list_display = ("order", "from_status", "to_status", "changed_by", "note", "when_local")
    when_local = market_time_column("created_at", "when (market time)", "order.market")
    list_select_related = ("order", "changed_by")
    list_filter = ("order__market", "to_status", "from_status")
    search_fields = ("order__order_number", "changed_by__phone", "note")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at",)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(SuperuserOnlyAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    """Checkout retries remembered for 24 h; cleaned up daily."""

    list_display = ("key", "user", "order", "response_status", "created_at")
    list_select_related = ("user", "order")
    search_fields = ("key", "user__phone", "order__order_number")
    date_hierarchy = "created_at"


class RefundInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = Refund
    fields = readonly_fields = (
        "amount",
        "method",
        "status",
        "provider_ref",
        "reason",
        "created_by",
    )


@admin.register(Payment)
class PaymentAdmin(MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    """Payments are written by the payment service only (docs/PAYMENTS.md): read-only."""

    market_field = "order.market"
    list_display = (
        "order",
        "provider",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "expires_local",
        "created_local",
    )
    expires_local = market_time_column("expires_at", "expires (market time)", "order.market")
    created_local = market_time_column("created_at", "created (market time)", "order.market")
    list_select_related = ("order",)
    list_filter = ("provider", "status", "order__market")
    search_fields = ("order__order_number", "provider_ref", "order__user__phone")
    date_hierarchy = "created_at"
    readonly_fields = (*PAYMENT_FIELDS, "order", "synced_at", "updated_at")
    exclude = ("client_secret", "payment_method_token")
    inlines = (RefundInline,)


@admin.register(Refund)
class RefundAdmin(MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    market_field = "payment.order.market"
    list_display = ("payment", "amount", "method", "status", "created_by", "created_local")
    created_local = market_time_column(
        "created_at", "created (market time)", "payment.order.market"
    )
    list_select_related = ("payment__order", "created_by")
    list_filter = ("method", "status", "payment__order__market")
    search_fields = ("payment__order__order_number", "provider_ref")
    date_hierarchy = "created_at"


@admin.register(ProviderEvent)
class ProviderEventAdmin(SuperuserOnlyAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    """Webhook events received (each applied at most once)."""

    list_display = ("event_id", "provider", "type", "payment", "created_at", "received_at")
    list_select_related = ("payment__order",)
    list_filter = ("provider", "type")
    search_fields = ("event_id", "payment__order__order_number", "payment__provider_ref")
    date_hierarchy = "received_at"


# --------------------------------------------------------------------------- returns (SPEC §10)


def _item_label(item: ReturnItem) -> str:
    bought = item.order_item
    return f"{bought.product_name} ({bought.size}, {bought.color}) · {bought.sku_code}"


RETURN_ITEM_FIELDS = (
    "bought",
    "quantity",
    "reason",
    "exchange_sku_code",
    "exchange_size",
    "exchange_color",
    "received_quantity",
    "damaged_quantity",
)


class ReturnItemInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = ReturnItem
    fields = readonly_fields = RETURN_ITEM_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_item")

    @admin.display(description="Item bought")
    def bought(self, obj):
        return _item_label(obj)


class ReturnImageInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = ReturnImage
    fields = readonly_fields = ("photo", "sort_order")

    photo = thumbnail_column("image", "Photo", size=80)


class ReturnStatusHistoryInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = ReturnStatusHistory
    fields = readonly_fields = HISTORY

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


@admin.register(ReturnRequest)
class ReturnRequestAdmin(MarketTimeZoneAdminMixin, StatusPanelAdminMixin, admin.ModelAdmin):
    """Returns come only from customers and move only through the returns service.

    Everything is read-only: lines, photos and history are the customer's and the
    service's. Staff approve, or reject with a reason, with the return page's
    buttons or the list's actions (StatusPanelAdminMixin; the same
    `return_transition` as the manager API: locks, held exchange units released,
    history with the staff user, the customer notified). Receiving and refunding
    need counts and money: they stay in the manager API.
    """

    status_labels = {ReturnStatus.APPROVED: "Approve", ReturnStatus.REJECTED: "Reject"}
    status_note_required = frozenset({ReturnStatus.REJECTED})
    status_note_help = (
        "The customer sees it in the return's history (and, on a rejection, as its "
        "reason): write it for them."
    )
    status_panel_help = (
        "Receiving the parcel and refunding need counts and money: they are done in the "
        "manager app (docs/RETURNS.md)."
    )

    list_display = (
        "return_number",
        "order",
        "user",
        "market",
        "status",
        "refunded",
        "cur",
        "created_local",
    )
    list_filter = ("status", "market", "created_at")
    refunded = short_column("refunded_amount", "Refunded")
    cur = short_column("currency", "Cur.", stored=True)
    list_select_related = ("order", "user")
    search_fields = ("return_number", "order__order_number", "user__phone")
    date_hierarchy = "created_at"
    created_local = market_time_column("created_at", "asked (market time)")
    fieldsets = (
        (None, {"fields": ("return_number", "order", "user", "market", "currency", "status")}),
        ("Customer note", {"fields": ("note",)}),
        ("Outcome", {"fields": ("reject_reason", "refunded_amount", "replacement_order")}),
        (
            "Milestones",
            {"fields": ("created_at", "approved_at", "received_at", "closed_at", "updated_at")},
        ),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])
    inlines = (ReturnItemInline, ReturnImageInline, ReturnStatusHistoryInline)
    actions = ("approve", "reject")

    def status_moves(self, obj: ReturnRequest) -> frozenset[str]:
        return RETURN_TRANSITIONS[obj.status]

    def status_move(
        self, request, obj: ReturnRequest, to_status: str, note: str, from_status: str
    ) -> str | None:
        """`return_transition`: locks, held exchange units released, history, notices."""
        try:
            return_transition(
                ret=obj,
                to_status=to_status,
                actor=request.user,
                note=note,
                allowed_from=frozenset({from_status}),
            )
        except ApplicationError as error:
            return str(error.detail)
        return None

    @admin.action(description="Approve selected returns", permissions=("change",))
    def approve(self, request, queryset):
        note = "approved in the admin"
        self.status_move_many(request, queryset, ReturnStatus.APPROVED, note=note)

    @admin.action(
        description="Reject selected returns (asks for the reason)", permissions=("change",)
    )
    def reject(self, request, queryset):
        """A page asking for the reason (the customer is told it); then the service."""
        return self.status_move_many_with_reason(
            request, queryset, ReturnStatus.REJECTED, title="Reject returns"
        )


@admin.register(ReturnItem)
class ReturnItemAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "return_request",
        "bought",
        "quantity",
        "reason",
        "exchange_sku_code",
        "received_quantity",
        "damaged_quantity",
    )
    list_select_related = ("return_request", "order_item")
    list_filter = ("reason", "return_request__market", "return_request__status")
    search_fields = (
        "return_request__return_number",
        "order_item__sku_code",
        "order_item__product_name",
    )

    @admin.display(description="Item bought")
    def bought(self, obj):
        return _item_label(obj)


@admin.register(ReturnStatusHistory)
class ReturnStatusHistoryAdmin(MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    market_field = "return_request.market"
    list_display = (
        "return_request",
        "from_status",
        "to_status",
        "changed_by",
        "note",
        "when_local",
    )
    when_local = market_time_column("created_at", "when (market time)", "return_request.market")
    list_select_related = ("return_request", "changed_by")
    list_filter = ("return_request__market", "to_status", "from_status")
    search_fields = ("return_request__return_number", "changed_by__phone", "note")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at",)


@admin.register(ReturnImage)
class ReturnImageAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("return_request", "photo", "sort_order")
    list_select_related = ("return_request",)
    list_filter = ("return_request__market",)
    search_fields = ("return_request__return_number",)

    photo = thumbnail_column("image", "Photo", size=80)
