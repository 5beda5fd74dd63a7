"""Cart service rules, and the racing-adds guarantee of the cart row lock."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from main.exceptions import NotFound
from products.models import Cart, CartItem
from products.services.cart import (
    InvalidQuantity,
    MarketMismatch,
    cart_clear,
    cart_item_add,
    cart_item_delete,
    cart_item_update,
)
from products.services.stock import OutOfStock
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory
from users.tests.factories import UserFactory


def priced_sku(*, price="500.00", stock=10, product_market="ALL", market="KG"):
    product = ProductFactory(market=product_market)
    ProductPriceFactory(product=product, market=market, price=Decimal(price))
    return SKUFactory(product=product, stock=stock)


@pytest.mark.django_db
def test_add_snapshots_price_and_creates_cart_lazily(customer):
    sku = priced_sku(price="777.00")
    assert not Cart.objects.filter(user=customer).exists()
    line, created = cart_item_add(user=customer, market="KG", sku_id=sku.id, quantity=2)
    assert created
    assert line.unit_price_at_add == Decimal("777.00")
    line, created = cart_item_add(user=customer, market="KG", sku_id=sku.id, quantity=1)
    assert not created
    assert line.quantity == 3
    assert Cart.objects.filter(user=customer).count() == 1


@pytest.mark.django_db
def test_rules(customer):
    sku = priced_sku(stock=3)
    with pytest.raises(InvalidQuantity):
        cart_item_add(user=customer, market="KG", sku_id=sku.id, quantity=0)
    with pytest.raises(OutOfStock):
        cart_item_add(user=customer, market="KG", sku_id=sku.id, quantity=4)
    with pytest.raises(MarketMismatch):
        cart_item_add(user=customer, market="US", sku_id=sku.id, quantity=1)
    line, _ = cart_item_add(user=customer, market="KG", sku_id=sku.id, quantity=1)
    with pytest.raises(InvalidQuantity):
        cart_item_update(user=customer, market="KG", item_id=line.id, quantity=11)
    other = UserFactory()
    with pytest.raises(NotFound):
        cart_item_update(user=other, market="KG", item_id=line.id, quantity=1)
    with pytest.raises(NotFound):
        cart_item_delete(user=other, item_id=line.id)
    cart_item_delete(user=customer, item_id=line.id)
    assert not CartItem.objects.exists()


@pytest.mark.django_db
def test_update_resnapshots_price(customer):
    sku = priced_sku(price="100.00")
    line, _ = cart_item_add(user=customer, market="KG", sku_id=sku.id, quantity=1)
    sku.product.prices.update(price=Decimal("90.00"))
    line = cart_item_update(user=customer, market="KG", item_id=line.id, quantity=2)
    assert line.unit_price_at_add == Decimal("90.00")


@pytest.mark.django_db
def test_clear_only_touches_own_cart(customer):
    sku = priced_sku()
    other = UserFactory()
    cart_item_add(user=customer, market="KG", sku_id=sku.id, quantity=1)
    cart_item_add(user=other, market="KG", sku_id=sku.id, quantity=1)
    cart_clear(user=customer)
    assert list(CartItem.objects.values_list("cart__user", flat=True)) == [other.pk]
    sku.refresh_from_db()
    assert sku.stock == 10


@pytest.mark.django_db(transaction=True)
def test_racing_adds_lose_no_update():
    """N concurrent adds of 1 unit to the same (new) line end with quantity N.

    On PostgreSQL the adds run in real threads, each with its own connection, so
    the cart row lock is what serialises them. SQLite has one writer and no row
    locks; there the same adds run one after another so the test still runs.
    """
    user = UserFactory(phone="+996700999888")
    sku = priced_sku(stock=10)
    adds = 6
    errors: list[Exception] = []
    barrier = threading.Barrier(adds)

    def add() -> None:
        try:
            barrier.wait(timeout=10)
            cart_item_add(user=user, market="KG", sku_id=sku.id, quantity=1)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    if connection.vendor == "postgresql":
        threads = [threading.Thread(target=add) for _ in range(adds)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    else:
        for _ in range(adds):
            cart_item_add(user=user, market="KG", sku_id=sku.id, quantity=1)
    assert errors == []
    assert Cart.objects.filter(user=user).count() == 1
    assert CartItem.objects.get(cart__user=user).quantity == adds
