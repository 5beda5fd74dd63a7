"""Building blocks for the manager returns tests: returns of each status, in either market.

Everything goes through the real services (checkout, the order's status machine,
`orders.services.returns`), so stock, payments and history are what a shop has.
"""

from __future__ import annotations

from dataclasses import dataclass

from orders.models import Order, ReturnRequest, ReturnStatus
from orders.services.returns import return_receive, return_request_create, return_transition
from orders.tests.returns_support import delivered_order, line, sizes
from products.models import SKU
from store_manager.tests.manager_api_support import BASE, customer_of

RETURNS = BASE + "returns/"


@dataclass(eq=False)
class Made:
    """A return and what it was made of: the order, the SKUs (S, M, L) and the bought one."""

    ret: ReturnRequest
    order: Order
    skus: list[SKU]
    bought: SKU

    def url(self, action: str = "") -> str:
        return f"{RETURNS}{self.ret.return_number}/{action + '/' if action else ''}"

    def refresh(self) -> ReturnRequest:
        self.ret.refresh_from_db()
        return self.ret


def make_return(
    market: str = "KG",
    *,
    status: str = ReturnStatus.REQUESTED,
    bought: int = 3,
    quantity: int = 2,
    reason: str = "size_too_small",
    exchange: bool = False,
    price: str = "1290.00",
    user=None,
    skus: list[SKU] | None = None,
) -> Made:
    """A delivered cash-on-delivery order of `bought` units of size M and a return of `quantity`.

    `exchange`: the return asks for size L instead (its units are held at once).
    `status`: requested, approved, or received (every unit back, none damaged).
    """
    user = user or customer_of(market)
    skus = skus or sizes(market=market, price=price)
    order = delivered_order(user, (skus[1], bought))
    body = line(order, skus[1], quantity, reason, exchange=skus[2] if exchange else None)
    ret = return_request_create(user=user, order_number=order.order_number, items=[body])
    if status in (ReturnStatus.APPROVED, ReturnStatus.RECEIVED):
        ret = return_transition(ret=ret, to_status=ReturnStatus.APPROVED, actor=None)
    if status == ReturnStatus.RECEIVED:
        items = [
            {"id": item.pk, "received_quantity": item.quantity, "damaged_quantity": 0}
            for item in ret.items.all()
        ]
        ret = return_receive(ret=ret, actor=None, items=items)
    ret.refresh_from_db()
    order.refresh_from_db()
    return Made(ret=ret, order=order, skus=skus, bought=skus[1])


def stock_of(sku: SKU) -> int:
    sku.refresh_from_db(fields=["stock"])
    return sku.stock


def receipt(ret: ReturnRequest, received: int | None = None, damaged: int = 0) -> dict:
    """A receive body naming every line: `received` units each (default: all), `damaged` of them."""
    return {
        "items": [
            {
                "id": item.pk,
                "received_quantity": item.quantity if received is None else received,
                "damaged_quantity": damaged,
            }
            for item in ret.items.order_by("id")
        ]
    }
