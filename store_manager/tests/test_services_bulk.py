"""Bulk status changes under real concurrency (PostgreSQL): no deadlock, all or nothing."""

from __future__ import annotations

import pytest
from django.db import connection

from main.exceptions import ApplicationError
from orders.models import Order, OrderStatusHistory
from orders.tests.helpers import race
from store_manager.models import ManagerActivityLog
from store_manager.services.activity import RequestMeta
from store_manager.services.orders import manager_order_bulk_status
from store_manager.tests.manager_api_support import ALL_FLAGS, make_manager, order_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_overlapping_bulk_changes_queue_instead_of_deadlocking():
    managers = [make_manager("manager", **ALL_FLAGS) for _ in range(2)]
    numbers = [order_in("KG").order_number for _ in range(6)]

    def bulk(index: int):
        # One caller lists the orders backwards: locking in id order still prevents a deadlock.
        order_numbers = numbers if index == 0 else list(reversed(numbers))
        try:
            return manager_order_bulk_status(
                manager=managers[index],
                market="KG",
                order_numbers=order_numbers,
                to_status="confirmed",
                meta=RequestMeta("192.0.2.1", "test"),
            )
        except ApplicationError as error:
            return error.code

    results, errors = race(bulk, 2)
    assert not errors, errors
    codes = sorted(r if isinstance(r, str) else "ok" for r in results)
    assert codes == ["invalid_transition", "ok"]  # the loser sees confirmed orders: refused
    assert set(Order.objects.values_list("status", flat=True)) == {"confirmed"}
    assert OrderStatusHistory.objects.filter(to_status="confirmed").count() == 6
    assert ManagerActivityLog.objects.count() == 6
    assert ManagerActivityLog.objects.values("manager").distinct().count() == 1
