"""Returns under real concurrency on PostgreSQL (SPEC §10: an exchange never oversells).

Real threads, each with its own connection, released together by a barrier;
SQLite has one writer and no row locks, so these are skipped there.
"""

from __future__ import annotations

import pytest
from django.db import connection

from orders.models import ReturnItem, ReturnRequest
from orders.services import returns
from orders.tests.helpers import race
from orders.tests.returns_support import delivered_order, line, sizes
from products.models import SKU
from products.services.stock import OutOfStock
from users.tests.factories import UserFactory

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="real concurrent transactions need PostgreSQL row locks (SQLite has one writer)",
)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_twelve_exchanges_for_the_last_three_units_hold_exactly_three():
    small, medium, _ = sizes(stocks=(20, 3, 10))
    buyers = [UserFactory(phone=f"+99670081{i:04d}") for i in range(12)]
    orders = [delivered_order(buyer, (small, 1)) for buyer in buyers]

    def exchange(i: int):
        return returns.return_request_create(
            user=buyers[i],
            order_number=orders[i].order_number,
            items=[line(orders[i], small, 1, exchange=medium)],
        ).pk

    results, errors = race(exchange, 12)

    assert len(results) == 3
    assert len(errors) == 9
    assert all(isinstance(e, OutOfStock) and e.code == "out_of_stock" for e in errors), errors
    assert SKU.objects.get(pk=medium.pk).stock == 0
    assert ReturnRequest.objects.count() == 3
    assert ReturnItem.objects.filter(exchange_sku=medium).count() == 3


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_racing_returns_of_one_item_never_return_more_than_bought():
    small, _, _ = sizes()
    buyer = UserFactory(phone="+996700820000")
    order = delivered_order(buyer, (small, 2))

    def ask(_: int):
        return returns.return_request_create(
            user=buyer, order_number=order.order_number, items=[line(order, small, 1)]
        ).pk

    results, errors = race(ask, 6)

    assert len(results) == 2
    assert len(errors) == 4
    assert all(e.code == "return_quantity_exceeded" for e in errors), errors
    assert sum(ReturnItem.objects.values_list("quantity", flat=True)) == 2


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_cancel_and_reject_racing_release_the_hold_once():
    small, medium, _ = sizes(stocks=(10, 5, 10))
    buyer = UserFactory(phone="+996700830000")
    order = delivered_order(buyer, (small, 2))
    ret = returns.return_request_create(
        user=buyer, order_number=order.order_number, items=[line(order, small, 2, exchange=medium)]
    )
    assert SKU.objects.get(pk=medium.pk).stock == 3

    def step(i: int):
        if i % 2:
            return returns.return_cancel_by_customer(user=buyer, return_number=ret.return_number)
        return returns.return_transition(ret=ret, to_status="rejected", actor=None, note="no")

    results, errors = race(step, 6)

    assert len(results) == 1
    assert all(e.code == "invalid_transition" for e in errors), errors
    assert SKU.objects.get(pk=medium.pk).stock == 5
    assert ReturnRequest.objects.get().status in ("cancelled", "rejected")
