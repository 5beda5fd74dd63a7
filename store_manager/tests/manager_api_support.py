"""Building blocks for the manager API tests: managers of each role, signed-in clients, orders."""

from __future__ import annotations

import itertools
from decimal import Decimal

from rest_framework.test import APIClient

from conftest import authenticate
from orders.models import Order, OrderStatus
from orders.tests.factories import OrderFactory, OrderItemFactory
from orders.tests.helpers import priced_sku
from store_manager.models import StoreManager
from store_manager.permissions import FLAGS
from users.tests.factories import UserFactory

BASE = "/api/v1/manager/"
_phones = itertools.count(1)
_numbers = itertools.count(1)
NO_FLAGS = dict.fromkeys(FLAGS, False)
ALL_FLAGS = dict.fromkeys(FLAGS, True)


def make_manager(role: str = "manager", *, market: str = "KG", **fields) -> StoreManager:
    """A StoreManager of `role`, active in `market` and allowed to manage it (unless told)."""
    phone = f"+99677{next(_phones):07d}" if market == "KG" else None
    user = UserFactory(phone=phone) if phone else UserFactory(phone=_us_phone())
    defaults = {
        **NO_FLAGS,
        "can_manage_kg": market == "KG",
        "can_manage_us": market == "US",
        "active_market": market,
    }
    return StoreManager.objects.create(user=user, role=role, **(defaults | fields))


def _us_phone() -> str:
    return f"+1212556{next(_phones) % 10000:04d}"


def client_of(manager_or_user) -> APIClient:
    user = getattr(manager_or_user, "user", manager_or_user)
    return authenticate(APIClient(), user)


def customer_of(market: str = "KG"):
    return UserFactory(phone=_us_phone()) if market == "US" else UserFactory()


def order_in(
    market: str = "KG",
    *,
    status: str = OrderStatus.PENDING,
    total: str = "2580.00",
    items: int = 1,
    stock: int = 10,
    user=None,
    product_name: str = "Linen shirt",
    **fields,
) -> Order:
    """An order of `market` with `items` lines on real SKUs (so cancel/resume move stock)."""
    user = user or customer_of(market)
    order = OrderFactory(
        user=user,
        market=market,
        currency="KGS" if market == "KG" else "USD",
        order_number=fields.pop("order_number", None) or f"{market}-M{next(_numbers):07d}",
        status=status,
        subtotal=Decimal(total),
        total=Decimal(total),
        **fields,
    )
    for _ in range(items):
        sku = priced_sku(market=market, stock=stock)
        OrderItemFactory(
            order=order,
            product=sku.product,
            sku=sku,
            product_name=product_name,
            sku_code=sku.code,
            quantity=1,
            unit_price=(Decimal(total) / items).quantize(Decimal("0.01")),
            line_total=(Decimal(total) / items).quantize(Decimal("0.01")),
        )
    return order
