"""Hand-built orders at exact instants for the analytics, snapshot and report tests."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum

from orders.models import Order, OrderItem, OrderStatus, Payment, Refund
from orders.tests.factories import OrderFactory, OrderItemFactory
from users.tests.factories import UserFactory

_us_numbers = itertools.count(1000)


def kg_customer():
    return UserFactory()


def us_customer():
    return UserFactory(phone=f"+1212555{next(_us_numbers):04d}")


def place(
    user,
    at: datetime,
    total: str,
    *,
    status: str = "pending",
    items=(1,),
    product=None,
    replacement: bool = False,
):
    """An order of `user` created at `at` (UTC or aware), one item line per quantity in `items`.

    `replacement`: an exchange's shipment (`Order.is_replacement`, total "0.00" then).
    """
    market = user.market
    order = OrderFactory(
        user=user,
        market=market,
        currency="KGS" if market == "KG" else "USD",
        order_number=f"{market}-T{next(_order_numbers):07d}",
        status=status,
        subtotal=Decimal(total),
        total=Decimal(total),
        is_replacement=replacement,
    )
    # created_at is auto_now_add: set the instant afterwards.
    Order.objects.filter(pk=order.pk).update(created_at=at)
    for quantity in items:
        OrderItemFactory(
            order=order,
            product=product,
            product_name=product.name if product else "Linen shirt",
            quantity=quantity,
            unit_price=Decimal(total),
            line_total=Decimal(total),
        )
    order.refresh_from_db()
    return order


_order_numbers = itertools.count(1)


def pay(order, captured="0.00", refunded="0.00", *, authorized=None, status=None, provider=None):
    """A payment of `order` (its total), with a refund row behind any refunded amount.

    Written straight into the database (refunded <= captured <= authorised <=
    amount, as the database insists).
    """
    card = order.market == "US"
    captured, refunded = Decimal(captured), Decimal(refunded)
    authorized = Decimal(authorized) if authorized is not None else captured
    if status is None:
        if captured:
            status = "succeeded"
        elif authorized:
            status = "requires_capture"
        else:
            status = "requires_payment_method" if card else "due_on_delivery"
    payment = Payment.objects.create(
        order=order,
        provider=provider or ("stripe" if card else "cash_on_delivery"),
        status=status,
        amount=order.total,
        amount_authorized=authorized,
        amount_captured=captured,
        amount_refunded=refunded,
    )
    if refunded:
        Refund.objects.create(payment=payment, amount=refunded, method="card" if card else "cash")
    return payment


def raw_figures(market: str, start: datetime, end: datetime) -> dict:
    """The SPEC §3 figures by the most literal query, to check the aggregation against.

    Replacement orders (an exchange's shipment) are not sales: they count nowhere.
    """
    orders = Order.objects.filter(
        market=market, created_at__gte=start, created_at__lt=end, is_replacement=False
    )
    live = orders.exclude(status=OrderStatus.CANCELLED)
    new = 0
    for user_id in set(live.values_list("user_id", flat=True)):
        first = (
            Order.objects.filter(user_id=user_id, market=market, is_replacement=False)
            .exclude(status=OrderStatus.CANCELLED)
            .order_by("created_at", "id")
            .first()
        )
        new += start <= first.created_at < end
    totals = live.aggregate(revenue=Sum("total"), n=Count("id"))
    return {
        "revenue": totals["revenue"] or Decimal("0.00"),
        "orders_count": totals["n"],
        "items_sold": OrderItem.objects.filter(order__in=live).aggregate(q=Sum("quantity"))["q"]
        or 0,
        "cancelled_count": orders.filter(Q(status=OrderStatus.CANCELLED)).count(),
        "new_customers": new,
    }
