from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from main.admin_mixins import (
    MarketTimeZoneAdminMixin,
    MovedByServiceAdminMixin,
    SuperuserOnlyAdminMixin,
    ViewOnlyAdminMixin,
    market_time_column,
    short_column,
    thumbnail,
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


@admin.display(description="Image")
def _item_image(self, obj):
    return thumbnail(obj.image if obj else None, size=48)


class OrderItemInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = OrderItem
    fields = readonly_fields = ("picture", *ITEM_SNAPSHOT)
    picture = _item_image


class OrderStatusHistoryInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = OrderStatusHistory
    fields = readonly_fields = HISTORY


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


class OrderStatusForm(forms.Form):
    """One press of a status button on the order page: where to, and the staff's note."""

    to_status = forms.ChoiceField(choices=OrderStatus.choices)
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=(
            "Kept in the order's history; on a cancellation it is the reason the customer reads."
        ),
    )


@admin.register(Order)
class OrderAdmin(MarketTimeZoneAdminMixin, MovedByServiceAdminMixin, admin.ModelAdmin):
    """Orders come only from checkout and change status only through the order service.

    Everything is read-only here: money, address and status are snapshots or belong
    to the services that write the history, and `payment_status` is derived from the
    payment (orders.services.payments). Status moves are the buttons on the order
    page (with a note) and the bulk actions of the list, both through `_move_one`.
    """

    change_form_template = "admin/orders/order/change_form.html"
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

    def _move_one(self, request, order: Order, to_status: str, note: str = "") -> str | None:
        """One order through the status service; None when moved, else why it was refused.

        `order_transition` locks the order, checks the move, moves money and stock,
        writes the history row with the staff user and note, and notifies after
        commit; the admin's own log (the page's "History") records who pressed what.
        """
        before = order.status
        try:
            order_transition(
                order=order, to_status=to_status, actor=request.user, note=note, by_manager=True
            )
        except ApplicationError as error:
            return str(error.detail)
        message = f"Status {before} → {to_status}" + (f": {note}" if note else "")
        self.log_change(request, order, message)
        return None

    def _move(self, request, queryset, to_status: str) -> None:
        """The bulk actions: each selected order through `_move_one`; refusals are listed."""
        moved, refused = 0, []
        for order in queryset.order_by("pk"):
            reason = self._move_one(request, order, to_status)
            if reason is None:
                moved += 1
            else:
                refused.append(f"{order.order_number}: {reason}")
        if moved:
            self.message_user(request, f"{moved} order(s) now {to_status}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not changed: " + "; ".join(refused), messages.ERROR)

    # ------------------------------------------------------------------ the order page

    def get_urls(self):
        status = path(
            "<path:object_id>/status/",
            self.admin_site.admin_view(self.status_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_status",
        )
        return [status, *super().get_urls()]

    def status_buttons(self, request, order: Order | None) -> list[tuple[str, str]]:
        """(status, label) of each move the order can make now, if this user may move it."""
        if order is None or not self.has_change_permission(request, order):
            return []
        allowed = TRANSITIONS[order.status]
        return [(status, label) for status, label in STATUS_BUTTONS.items() if status in allowed]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The status panel (admin/orders/order/change_form.html) instead of save buttons.
        context.update(
            status_buttons=self.status_buttons(request, obj),
            status_form=OrderStatusForm(),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    @method_decorator(require_POST)
    def status_view(self, request, object_id):
        """A status button pressed on the order page: through the service, then back to it."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            raise Http404("No such order.")
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        form = OrderStatusForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Not changed: choose a status.", messages.ERROR)
        else:
            to_status, note = form.cleaned_data["to_status"], form.cleaned_data["note"]
            reason = self._move_one(request, order, to_status, note)
            if reason is None:
                self.message_user(
                    request, f"{order.order_number} is now {to_status}.", messages.SUCCESS
                )
            else:
                self.message_user(request, f"Not changed: {reason}", messages.ERROR)
        change_url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(order.pk,),
            current_app=self.admin_site.name,
        )
        return HttpResponseRedirect(change_url)

    # ------------------------------------------------------------------ the list's actions

    @admin.action(description="Confirm selected orders", permissions=("change",))
    def move_to_confirmed(self, request, queryset):
        self._move(request, queryset, OrderStatus.CONFIRMED)

    @admin.action(description="Mark selected orders processing", permissions=("change",))
    def move_to_processing(self, request, queryset):
        self._move(request, queryset, OrderStatus.PROCESSING)

    @admin.action(description="Mark selected orders shipped", permissions=("change",))
    def move_to_shipped(self, request, queryset):
        self._move(request, queryset, OrderStatus.SHIPPED)

    @admin.action(description="Mark selected orders delivered", permissions=("change",))
    def move_to_delivered(self, request, queryset):
        self._move(request, queryset, OrderStatus.DELIVERED)

    @admin.action(description="Cancel selected orders (stock returns)", permissions=("change",))
    def move_to_cancelled(self, request, queryset):
        self._move(request, queryset, OrderStatus.CANCELLED)

    @admin.action(
        description="Resume cancelled orders (stock is taken again)", permissions=("change",)
    )
    def resume(self, request, queryset):
        self._move(request, queryset, OrderStatus.PENDING)


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
class OrderStatusHistoryAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("order", "from_status", "to_status", "changed_by", "note", "created_at")
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
class PaymentAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Payments are written by the payment service only (docs/PAYMENTS.md): read-only."""

    list_display = (
        "order",
        "provider",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "expires_at",
        "created_at",
    )
    list_select_related = ("order",)
    list_filter = ("provider", "status", "order__market")
    search_fields = ("order__order_number", "provider_ref", "order__user__phone")
    date_hierarchy = "created_at"
    readonly_fields = (*PAYMENT_FIELDS, "order", "synced_at", "updated_at")
    exclude = ("client_secret", "payment_method_token")
    inlines = (RefundInline,)


@admin.register(Refund)
class RefundAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("payment", "amount", "method", "status", "created_by", "created_at")
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

    @admin.display(description="Photo")
    def photo(self, obj):
        return thumbnail(obj.image, size=80)


class ReturnStatusHistoryInline(ViewOnlyAdminMixin, admin.TabularInline):
    model = ReturnStatusHistory
    fields = readonly_fields = HISTORY

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


class RejectReturnsForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="The customer reads it in the notification of the rejection.",
    )


@admin.register(ReturnRequest)
class ReturnRequestAdmin(MarketTimeZoneAdminMixin, MovedByServiceAdminMixin, admin.ModelAdmin):
    """Returns come only from customers and move only through the returns service.

    Everything is read-only: lines, photos and history are the customer's and the
    service's. Staff approve, or reject with a reason, with the actions below
    (the same `return_transition` as the manager API: locks, held exchange units
    released, history with the staff user, the customer notified). Receiving and
    refunding need counts and money: they stay in the manager API.
    """

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

    def _move(self, request, queryset, to_status: str, note: str) -> None:
        """Each return through the returns service; refusals are reported, never a 500."""
        moved, refused = 0, []
        for ret in queryset.order_by("pk"):
            try:
                return_transition(ret=ret, to_status=to_status, actor=request.user, note=note)
                moved += 1
            except ApplicationError as error:
                refused.append(f"{ret.return_number}: {error.detail}")
        if moved:
            self.message_user(request, f"{moved} return(s) now {to_status}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not changed: " + "; ".join(refused), messages.ERROR)

    @admin.action(description="Approve selected returns", permissions=("change",))
    def approve(self, request, queryset):
        self._move(request, queryset, ReturnStatus.APPROVED, note="approved in the admin")

    @admin.action(
        description="Reject selected returns (asks for the reason)", permissions=("change",)
    )
    def reject(self, request, queryset):
        """A page asking for the reason (the customer is told it); then the service."""
        form = RejectReturnsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._move(request, queryset, ReturnStatus.REJECTED, note=form.cleaned_data["reason"])
            return None  # back to the change list, with the messages
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject returns",
            "opts": self.model._meta,
            "returns": queryset.select_related("order").order_by("pk"),
            "form": form,
            "action": "reject",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/orders/returnrequest/reject.html", context)


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
class ReturnStatusHistoryAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "return_request",
        "from_status",
        "to_status",
        "changed_by",
        "note",
        "created_at",
    )
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

    @admin.display(description="Photo")
    def photo(self, obj):
        return thumbnail(obj.image, size=80)
