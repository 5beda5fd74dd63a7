"""Building blocks for the orders tests: priced SKUs, carts, checkouts, threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

from django.db import connections

from orders.services.checkout import order_checkout
from products.models import Cart, CartItem
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory

INLINE_KG = {
    "recipient_name": "Aida Bekova",
    "phone": "+996700123456",
    "city": "Bishkek",
    "street": "Chui Ave",
    "building": "120",
    "apartment": "5",
}
INLINE_US = {
    "recipient_name": "Jane Roe",
    "phone": "+12025550123",
    "city": "New York",
    "street": "5th Ave",
    "building": "350",
    "postal_code": "10118",
}


def priced_sku(*, market="KG", price="1290.00", stock=10, product_market="ALL", **kwargs):
    product = kwargs.pop("product", None) or ProductFactory(market=product_market)
    ProductPriceFactory(product=product, market=market, price=Decimal(price))
    return SKUFactory(product=product, stock=stock, **kwargs)


def fill_cart(user, *lines) -> Cart:
    """Put (sku, quantity) lines straight into the user's cart."""
    cart, _ = Cart.objects.get_or_create(user=user)
    for sku, quantity in lines:
        CartItem.objects.update_or_create(
            cart=cart, sku=sku, defaults={"quantity": quantity, "unit_price_at_add": Decimal(1)}
        )
    return cart


def checkout(user, **kwargs):
    """Check out the user's cart with a default inline address of its market."""
    kwargs.setdefault("payment_method", "cash_on_delivery")
    if "address_id" not in kwargs:
        kwargs.setdefault("address", INLINE_KG if user.market == "KG" else INLINE_US)
    return order_checkout(user=user, **kwargs)


def race(target: Callable[[int], object], threads: int) -> tuple[list, list[Exception]]:
    """Run target(0..threads-1) in real threads released at once; each closes its connection."""
    barrier = threading.Barrier(threads)
    results: list = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            result = target(index)
            with lock:
                results.append(result)
        except Exception as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return results, errors
