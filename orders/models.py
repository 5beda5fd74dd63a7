from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from main.markets import Currency, Market
from main.models import TimeStampedModel, market_check, money_field


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed"
    PROCESSING = "processing", "Processing"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


class PaymentMethodType(models.TextChoices):
    CASH_ON_DELIVERY = "cash_on_delivery", "Cash on delivery"
    CARD = "card", "Card"


class PaymentStatus(models.TextChoices):
    """What the order's money is doing (SPEC §8); derived from its live payment."""

    UNPAID = "unpaid", "Unpaid"
    AUTHORIZED = "authorized", "Authorized"
    PAID = "paid", "Paid"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    VOIDED = "voided", "Voided"
    FAILED = "failed", "Failed"


# The order's address snapshot, in the order a form shows it.
SHIPPING_FIELDS = (
    "shipping_recipient",
    "shipping_phone",
    "shipping_city",
    "shipping_street",
    "shipping_building",
    "shipping_apartment",
    "shipping_postal_code",
    "shipping_notes",
)


class Order(TimeStampedModel):
    """A placed order. Money, address and items are snapshots: the catalogue may change."""

    order_number = models.CharField(max_length=20, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    market = models.CharField(max_length=2, choices=Market.choices)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    payment_method = models.CharField(
        max_length=20, choices=PaymentMethodType.choices, default=PaymentMethodType.CASH_ON_DELIVERY
    )
    payment_status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID
    )
    # Shipping address snapshot.
    shipping_recipient = models.CharField(max_length=150)
    shipping_phone = models.CharField(max_length=16)
    shipping_city = models.CharField(max_length=100)
    shipping_street = models.CharField(max_length=200)
    shipping_building = models.CharField(max_length=50)
    shipping_apartment = models.CharField(max_length=50, blank=True)
    shipping_postal_code = models.CharField(max_length=20, blank=True)
    shipping_notes = models.CharField(max_length=500, blank=True)
    # Totals in the order's currency.
    subtotal = money_field()
    shipping_cost = money_field(default=0)
    discount = money_field(default=0)
    total = money_field()
    comment = models.TextField(blank=True)
    # Milestones.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    # A replacement order ships the units of an exchange (SPEC §10): total 0, and
    # left out of the sales figures (revenue, orders, items sold, top products).
    is_replacement = models.BooleanField(default=False)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            market_check("order_market_valid"),
            models.CheckConstraint(
                condition=models.Q(currency__in=Currency.values), name="order_currency_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=OrderStatus.values), name="order_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(payment_method__in=PaymentMethodType.values),
                name="order_payment_method_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(payment_status__in=PaymentStatus.values),
                name="order_payment_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    subtotal__gte=0, shipping_cost__gte=0, discount__gte=0, total__gte=0
                ),
                name="order_money_non_negative",
            ),
        ]
        indexes = [
            models.Index(fields=("user", "status"), name="order_user_status_idx"),
            models.Index(fields=("market", "created_at"), name="order_market_created_idx"),
            models.Index(fields=("market", "status"), name="order_market_status_idx"),
            # The manager's order list sorted by amount (`ordering=total`).
            models.Index(fields=("market", "total"), name="order_market_total_idx"),
        ]

    def __str__(self) -> str:
        return self.order_number

    @property
    def live_payment(self) -> Payment | None:
        """The payment that counts: the one not cancelled, else the newest (prefetch-friendly)."""
        payments = sorted(self.payments.all(), key=lambda p: (p.status != "canceled", p.pk))
        return payments[-1] if payments else None


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(
        "products.Product",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="order_items",
    )
    sku = models.ForeignKey(
        "products.SKU", on_delete=models.SET_NULL, null=True, blank=True, related_name="order_items"
    )
    # Snapshot at checkout.
    product_name = models.CharField(max_length=200)
    product_slug = models.CharField(max_length=220, blank=True)
    sku_code = models.CharField(max_length=64)
    size = models.CharField(max_length=20, blank=True)
    color = models.CharField(max_length=50, blank=True)
    image = models.CharField(max_length=500, blank=True, help_text="Image path at checkout.")
    unit_price = money_field()
    quantity = models.PositiveIntegerField()
    line_total = money_field()

    class Meta:
        ordering = ("order", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="order_item_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0, line_total__gte=0),
                name="order_item_money_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku_code} ({self.order_id})"


def _history_caption(row) -> str:
    """`pending → confirmed (2026-11-26 04:49)`: a status change as staff read it.

    The time is on the current time zone's clock (the admin renders an order's
    page in its market's zone); the first row of a history reads `new → …`.
    """
    when = f" ({timezone.localtime(row.created_at):%Y-%m-%d %H:%M})" if row.created_at else ""
    return f"{row.from_status or 'new'} → {row.to_status}{when}"


class OrderStatusHistory(models.Model):
    """One row per status change, with who made it. Append-only."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_history")
    # NULL for the row that records the order's creation.
    from_status = models.CharField(  # noqa: DJ001 (NULL = "no previous status", as the API shows it)
        max_length=20, choices=OrderStatus.choices, null=True, blank=True
    )
    to_status = models.CharField(max_length=20, choices=OrderStatus.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("order", "created_at", "id")
        verbose_name_plural = "order status history"

    def __str__(self) -> str:
        return _history_caption(self)


class IdempotencyKey(models.Model):
    """A checkout request's `Idempotency-Key`, so a retry returns the first order.

    The key is scoped to its user; `request_hash` fingerprints the body so the same
    key with a different body is refused. Rows older than
    `IDEMPOTENCY_KEY_TTL_HOURS` are ignored and removed by the daily clean-up.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
    response_status = models.PositiveSmallIntegerField(default=201)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=("user", "key"), name="idempotency_user_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.order_id}"


class PaymentProvider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    CASH_ON_DELIVERY = "cash_on_delivery", "Cash on delivery"


class PaymentState(models.TextChoices):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method", "Requires payment method"
    REQUIRES_CONFIRMATION = "requires_confirmation", "Requires confirmation"
    REQUIRES_ACTION = "requires_action", "Requires action"
    PROCESSING = "processing", "Processing"
    REQUIRES_CAPTURE = "requires_capture", "Authorised (requires capture)"
    SUCCEEDED = "succeeded", "Captured"
    CANCELED = "canceled", "Canceled"
    DUE_ON_DELIVERY = "due_on_delivery", "Cash due on delivery"


class Payment(TimeStampedModel):
    """One attempt to get an order's money: a Stripe PaymentIntent, or the cash due on delivery.

    `status` uses the PaymentIntent vocabulary for every provider (a KG acquirer
    maps its states onto it), plus `due_on_delivery` for cash. Amounts are in
    the order's currency (the payment has no currency of its own, so it cannot
    differ), and the database keeps refunded ≤ captured ≤ authorised ≤ amount.
    An order has at most one live payment (not `canceled`); a cancelled and
    resumed order gets a new one. Only `orders.services.payments` writes here.
    """

    Status = PaymentState

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=30, choices=PaymentProvider.choices)
    # The provider's id (a PaymentIntent `pi_…`); empty until created there, and for cash.
    provider_ref = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=30, choices=PaymentState.choices)
    amount = money_field()
    amount_authorized = money_field(default=0)
    amount_captured = money_field(default=0)
    amount_refunded = money_field(default=0)
    client_secret = models.CharField(max_length=255, blank=True)
    # A saved card's provider token passed to the PaymentIntent (users.PaymentMethod).
    payment_method_token = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Unpaid card orders are cancelled after this."
    )
    last_error = models.CharField(max_length=255, blank=True)
    # The creation time of the newest provider state applied (events may arrive out of order).
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("order", "-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(provider__in=PaymentProvider.values),
                name="payment_provider_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PaymentState.values),
                name="payment_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0),
                name="payment_amount_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    amount_refunded__gte=0,
                    amount_captured__gte=models.F("amount_refunded"),
                    amount_authorized__gte=models.F("amount_captured"),
                    amount__gte=models.F("amount_authorized"),
                ),
                name="payment_refunded_le_captured_le_authorized",
            ),
            models.UniqueConstraint(
                fields=("order",),
                condition=~models.Q(status="canceled"),
                name="payment_one_live_per_order",
            ),
            models.UniqueConstraint(
                fields=("provider", "provider_ref"),
                condition=~models.Q(provider_ref=""),
                name="payment_provider_ref_unique",
            ),
        ]
        indexes = [
            models.Index(fields=("status", "expires_at"), name="payment_status_expires_idx"),
        ]

    def __str__(self) -> str:
        # "KG-7Q2M4XPA · Stripe · 7090.00 · Captured" (admin lists join the order).
        return (
            f"{self.order.order_number} · {self.get_provider_display()} · {self.amount} · "
            f"{self.get_status_display()}"
        )

    @property
    def refundable(self):
        return self.amount_captured - self.amount_refunded


class RefundMethod(models.TextChoices):
    CARD = "card", "Card (provider refund)"
    CASH = "cash", "Cash"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(models.Model):
    """Money given back on a captured payment: a provider refund, or cash / a bank transfer."""

    Method = RefundMethod
    Status = RefundStatus

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = money_field()
    method = models.CharField(max_length=20, choices=RefundMethod.choices)
    status = models.CharField(
        max_length=20, choices=RefundStatus.choices, default=RefundStatus.SUCCEEDED
    )
    provider_ref = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("payment", "created_at", "id")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(method__in=RefundMethod.values),
                name="refund_method_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=RefundStatus.values),
                name="refund_status_valid",
            ),
            models.UniqueConstraint(
                fields=("provider_ref",),
                condition=~models.Q(provider_ref=""),
                name="refund_provider_ref_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} · {self.get_method_display()} · {self.get_status_display()}"


class ProviderEvent(models.Model):
    """A webhook event received from a payment provider: each id is applied at most once."""

    provider = models.CharField(max_length=30, choices=PaymentProvider.choices)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payment = models.ForeignKey(
        Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    created_at = models.DateTimeField(help_text="When the provider created the event.")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-received_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("provider", "event_id"), name="provider_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.type}"


# --------------------------------------------------------------------------- returns (SPEC §10)


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    RECEIVED = "received", "Received"
    REFUNDED = "refunded", "Refunded"
    EXCHANGED = "exchanged", "Exchanged"


class ReturnReason(models.TextChoices):
    SIZE_TOO_SMALL = "size_too_small", "Size too small"
    SIZE_TOO_LARGE = "size_too_large", "Size too large"
    NOT_AS_PICTURED = "not_as_pictured", "Not as pictured"
    DEFECTIVE = "defective", "Defective"
    CHANGED_MIND = "changed_mind", "Changed mind"
    OTHER = "other", "Other"


class ReturnRequest(TimeStampedModel):
    """A customer's request to send items of a delivered order back, for money or another size.

    Only `orders.services.returns` writes here (one status machine, history rows
    with the actor). `market` and `currency` are the order's, copied so the
    manager's list filters without a join. `refunded_amount` sums the refunds made
    for this return; `replacement_order` ships the units of its exchange lines.
    """

    Status = ReturnStatus

    return_number = models.CharField(max_length=12, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="returns")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="returns"
    )
    market = models.CharField(max_length=2, choices=Market.choices)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    status = models.CharField(
        max_length=20, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED
    )
    note = models.TextField(blank=True, help_text="The customer's note.")
    reject_reason = models.CharField(max_length=500, blank=True)
    refunded_amount = money_field(default=0)
    replacement_order = models.OneToOneField(
        Order,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_return",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was refunded, exchanged, rejected or cancelled."
    )

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            market_check("return_market_valid"),
            models.CheckConstraint(
                condition=models.Q(currency__in=Currency.values), name="return_currency_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ReturnStatus.values), name="return_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__gte=0), name="return_refunded_non_negative"
            ),
        ]
        indexes = [
            models.Index(
                fields=("market", "status", "created_at"), name="return_market_status_idx"
            ),
            models.Index(fields=("market", "created_at"), name="return_market_created_idx"),
            models.Index(fields=("user", "created_at"), name="return_user_created_idx"),
        ]

    def __str__(self) -> str:
        return self.return_number


class ReturnItem(models.Model):
    """Units of one order item sent back, why, and (an exchange) the SKU wanted instead."""

    return_request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="items"
    )
    order_item = models.ForeignKey(OrderItem, on_delete=models.PROTECT, related_name="return_items")
    quantity = models.PositiveIntegerField()
    reason = models.CharField(max_length=20, choices=ReturnReason.choices)
    # An exchange: units of this SKU are held from the request on (stock taken).
    exchange_sku = models.ForeignKey(
        "products.SKU", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    exchange_sku_code = models.CharField(max_length=64, blank=True)
    exchange_size = models.CharField(max_length=20, blank=True)
    exchange_color = models.CharField(max_length=50, blank=True)
    # Set when the parcel arrives: units that came back, and how many of those are damaged.
    received_quantity = models.PositiveIntegerField(null=True, blank=True)
    damaged_quantity = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("return_request", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="return_item_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(reason__in=ReturnReason.values), name="return_item_reason_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(received_quantity__isnull=True)
                | models.Q(
                    received_quantity__lte=models.F("quantity"),
                    damaged_quantity__lte=models.F("received_quantity"),
                ),
                name="return_item_damaged_le_received_le_quantity",
            ),
            models.UniqueConstraint(
                fields=("return_request", "order_item"), name="return_item_once_per_return"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.order_item.sku_code} · {self.get_reason_display()}"

    @property
    def is_exchange(self) -> bool:
        return bool(self.exchange_sku_code)


class ReturnStatusHistory(models.Model):
    """One row per status change of a return, with who made it. Append-only."""

    return_request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="status_history"
    )
    from_status = models.CharField(  # noqa: DJ001 (NULL = "no previous status", as for orders)
        max_length=20, choices=ReturnStatus.choices, null=True, blank=True
    )
    to_status = models.CharField(max_length=20, choices=ReturnStatus.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("return_request", "created_at", "id")
        verbose_name_plural = "return status history"

    def __str__(self) -> str:
        return _history_caption(self)


class ReturnImage(models.Model):
    """A customer's photo of a returned item (validated and re-encoded by `main.images`)."""

    return_request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="images"
    )
    image = models.ImageField(upload_to="returns/")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("return_request", "sort_order", "id")

    def __str__(self) -> str:
        return self.image.name
