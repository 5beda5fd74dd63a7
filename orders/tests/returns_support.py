"""Building blocks for the returns tests: delivered orders and return bodies."""

from __future__ import annotations

from orders.models import Order, OrderStatus
from orders.services.transitions import order_transition
from orders.tests.helpers import checkout, fill_cart, priced_sku
from products.tests.factories import SKUFactory

PIPELINE = (OrderStatus.CONFIRMED, OrderStatus.PROCESSING, OrderStatus.SHIPPED,
            OrderStatus.DELIVERED)  # fmt: skip


def deliver(order: Order, *, at=None) -> Order:
    """Walk an order from its status to `delivered` through the status machine."""
    ahead = PIPELINE[PIPELINE.index(order.status) + 1 :] if order.status in PIPELINE else PIPELINE
    for status in ahead:
        order = order_transition(order=order, to_status=status, actor=None, at=at,
                                 by_manager=True)  # fmt: skip
    return order


def delivered_order(user, *lines, at=None) -> Order:
    """A delivered cash-on-delivery order of (sku, quantity) lines in the user's market."""
    fill_cart(user, *lines)
    return deliver(checkout(user).order, at=at)


def sizes(*, market="KG", price="1290.00", stocks=(10, 10, 10), product_market="ALL"):
    """One product in sizes S, M, L (one colour), priced in `market`: its SKUs in that order."""
    first = priced_sku(
        market=market, price=price, stock=stocks[0], size="S", color="Black",
        product_market=product_market,
    )  # fmt: skip
    others = [
        SKUFactory(product=first.product, stock=stock, size=size, color="Black")
        for size, stock in zip(("M", "L"), stocks[1:], strict=True)
    ]
    return [first, *others]


def line(order: Order, sku, quantity=1, reason="size_too_small", exchange=None) -> dict:
    """One `items` entry of a return body for the order's item of `sku`."""
    item = order.items.get(sku=sku)
    body = {"order_item_id": item.pk, "quantity": quantity, "reason": reason}
    if exchange is not None:
        body["exchange_sku_id"] = exchange.pk
    return body
