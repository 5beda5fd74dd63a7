"""Checkout and cancellation under real concurrency (SPEC §4: never oversell).

Real threads, each with its own database connection, need PostgreSQL's row locks;
SQLite has a single writer and no SELECT ... FOR UPDATE, so these are skipped there.
"""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import Order, OrderItem
from orders.services.transitions import order_cancel_by_customer
from orders.tests.helpers import checkout, fill_cart, priced_sku, race
from products.models import SKU, CartItem
from products.services.stock import OutOfStock
from users.tests.factories import UserFactory

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="real concurrent transactions need PostgreSQL row locks (SQLite has one writer)",
)


def customers(count: int, start: int = 0):
    return [UserFactory(phone=f"+99670080{start + i:04d}") for i in range(count)]


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_buyers_five_units_exactly_five_orders():
    sku = priced_sku(stock=5)
    buyers = customers(20)
    for buyer in buyers:
        fill_cart(buyer, (sku, 1))

    results, errors = race(lambda i: checkout(buyers[i]).order.pk, 20)

    assert len(results) == 5
    assert len(errors) == 15
    assert all(isinstance(e, OutOfStock) and e.code == "out_of_stock" for e in errors)
    assert SKU.objects.get(pk=sku.pk).stock == 0
    assert Order.objects.count() == 5
    assert sum(OrderItem.objects.values_list("quantity", flat=True)) == 5


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_carts_in_any_order_never_deadlock():
    skus = [priced_sku(stock=12) for _ in range(3)]
    buyers = customers(8, start=100)
    for buyer in buyers:
        lines = [(sku, random.randint(1, 3)) for sku in random.sample(skus, 3)]
        fill_cart(buyer, *lines)

    results, errors = race(lambda i: checkout(buyers[i]).order.pk, 8)

    assert all(isinstance(e, OutOfStock) for e in errors), errors
    assert results  # at least one went through
    for sku in skus:
        sold = sum(OrderItem.objects.filter(sku=sku).values_list("quantity", flat=True))
        remaining = SKU.objects.get(pk=sku.pk).stock
        assert remaining >= 0
        assert remaining + sold == 12


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_one_idempotency_key_from_five_threads_makes_one_order():
    sku = priced_sku(stock=10)
    buyer = customers(1, start=200)[0]
    fill_cart(buyer, (sku, 2))

    results, errors = race(lambda i: checkout(buyer, idempotency_key="same-key").order.pk, 5)

    assert errors == []
    assert len(set(results)) == 1
    assert Order.objects.count() == 1
    assert SKU.objects.get(pk=sku.pk).stock == 8


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_five_racing_cancels_return_stock_once():
    sku = priced_sku(stock=10)
    buyer = customers(1, start=300)[0]
    fill_cart(buyer, (sku, 4))
    order = checkout(buyer).order
    assert SKU.objects.get(pk=sku.pk).stock == 6

    results, errors = race(
        lambda i: order_cancel_by_customer(user=buyer, order_number=order.order_number),
        5,
    )

    assert len(results) == 1
    assert len(errors) == 4
    assert all(e.code == "invalid_transition" for e in errors)
    assert SKU.objects.get(pk=sku.pk).stock == 10
    assert Order.objects.get(pk=order.pk).status_history.filter(to_status="cancelled").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("lines", [1, 5, 20])
def test_checkout_queries_do_not_grow_with_lines(lines):
    buyer = customers(1, start=400 + lines)[0]
    fill_cart(buyer, *[(priced_sku(stock=5), 1) for _ in range(lines)])
    with CaptureQueriesContext(connection) as queries:
        checkout(buyer)
    assert not CartItem.objects.filter(cart__user=buyer).exists()
    # The same statements for 1, 5 or 20 lines: locks, bulk stock update, bulk insert.
    assert len(queries) == CHECKOUT_QUERIES


# 17 for the sale itself, plus one INSERT of its outbox messages (notification, snapshots),
# plus one UPDATE of the catalogue's read model (the products' in_stock and sales_count),
# plus one INSERT of the order's payment (cash due on delivery).
CHECKOUT_QUERIES = 20
