"""The rows of the orders CSV export (manager/orders/export/), streamed from the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, DecimalField, F, Q, Value, When
from django.db.models.functions import Coalesce

from orders.models import OrderItem, OrderStatus
from store_manager.analytics import payments_total, returned_units_per_order
from store_manager.selectors.orders import OrderFilters, manager_orders

EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("order_number", "order__order_number"),
    ("created_at", "order__created_at"),
    ("status", "order__status"),
    ("payment_method", "order__payment_method"),
    ("payment_status", "order__payment_status"),
    ("currency", "order__currency"),
    ("customer_phone", "order__user__phone"),
    ("customer_name", "order__shipping_recipient"),
    ("shipping_phone", "order__shipping_phone"),
    ("city", "order__shipping_city"),
    ("address", "order__shipping_street"),
    ("building", "order__shipping_building"),
    ("apartment", "order__shipping_apartment"),
    ("product_name", "product_name"),
    ("sku_code", "sku_code"),
    ("size", "size"),
    ("color", "color"),
    ("unit_price", "unit_price"),
    ("quantity", "quantity"),
    ("line_total", "line_total"),
    ("order_subtotal", "order__subtotal"),
    ("order_shipping_cost", "order__shipping_cost"),
    ("order_discount", "order__discount"),
    ("order_total", "order__total"),
    ("order_paid_amount", "order_paid_amount"),
    ("order_refunded_amount", "order_refunded_amount"),
    # Units of the order in returns that are not rejected or cancelled (SPEC §10).
    ("order_returned_units", "order_returned_units"),
    # What the order adds to net_revenue: total - refunded, 0 when cancelled (its revenue
    # never counted) or a replacement (an exchange shipment, not a sale).
    ("order_net_total", "order_net_total"),
)
EXPORT_CHUNK_SIZE = 2000


def manager_export_rows(
    *, market: str, filters: OrderFilters, now: datetime | None = None
) -> Iterator[tuple]:
    """One tuple per order item of the filtered orders, streamed from the database.

    `values_list(...).iterator(chunk_size=…)`: a server-side cursor on
    PostgreSQL, so memory stays flat whatever the number of rows.
    """
    orders = manager_orders(market=market, filters=filters, now=now)
    field = filters.ordering.lstrip("-")
    sign = "-" if filters.ordering.startswith("-") else ""
    items = (
        OrderItem.objects.filter(order__in=orders.values("pk"))
        .annotate(
            order_paid_amount=_paid("amount_captured"),
            order_refunded_amount=_paid("amount_refunded"),
            order_returned_units=Coalesce(returned_units_per_order("order_id"), 0),
        )
        .annotate(order_net_total=_net_total())
        .order_by(f"{sign}order__{field}", f"{sign}order_id", "id")
        .values_list(*(source for _, source in EXPORT_COLUMNS))
    )
    return items.iterator(chunk_size=EXPORT_CHUNK_SIZE)


def _paid(field: str) -> Coalesce:
    """The item's order's payments summed (the analytics' own subquery), 0 without any."""
    total = payments_total(field, "order_id")
    return Coalesce(total, Value(Decimal("0.00")), output_field=total.output_field)


def _net_total() -> Case:
    """The order's share of `net_revenue` (store_manager/analytics.py), per item row."""
    counted = ~Q(order__status=OrderStatus.CANCELLED) & Q(order__is_replacement=False)
    return Case(
        When(counted, then=F("order__total") - F("order_refunded_amount")),
        default=Value(Decimal("0.00")),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
