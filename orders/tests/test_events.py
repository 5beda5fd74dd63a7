"""Order events reach the analytics without any manual re-run (SPEC §6)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import Order, OrderStatusHistory
from orders.services.transitions import order_cancel_by_customer, order_transition
from orders.tests.helpers import checkout, fill_cart, priced_sku
from store_manager.analytics import period_bounds
from store_manager.models import RevenueSnapshot

pytestmark = pytest.mark.django_db


def snapshot(period: str, order: Order) -> RevenueSnapshot:
    bounds = period_bounds(order.market, period, order.created_at)
    return RevenueSnapshot.objects.get(
        market=order.market, period=period, period_start=bounds.start
    )


def test_checkout_and_cancel_of_last_weeks_order_correct_its_snapshots(
    customer, django_capture_on_commit_callbacks
):
    keep_sku, cancel_sku = priced_sku(price="1000.00"), priced_sku(price="3000.00")
    last_week = timezone.now() - timedelta(days=8)
    orders = []
    for sku in (keep_sku, cancel_sku):
        fill_cart(customer, (sku, 1))
        order = checkout(customer).order
        Order.objects.filter(pk=order.pk).update(created_at=last_week)
        OrderStatusHistory.objects.filter(order=order).update(created_at=last_week)
        order.refresh_from_db()
        orders.append(order)
    # Confirming an order is a status change too: it recomputes the (back-dated) periods.
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=orders[0], to_status="confirmed", actor=None)
        order_transition(order=orders[1], to_status="confirmed", actor=None)
    for period in ("hourly", "daily", "weekly", "monthly"):
        row = snapshot(period, orders[0])
        assert row.orders_count >= 2, period
        assert row.revenue >= Decimal("4000.00") + 2 * Decimal("200.00"), period

    before = {p: snapshot(p, orders[1]) for p in ("daily", "weekly", "monthly")}
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel_by_customer(user=customer, order_number=orders[1].order_number)

    for period, old in before.items():
        new = snapshot(period, orders[1])
        assert new.revenue == old.revenue - orders[1].total, period
        assert new.orders_count == old.orders_count - 1, period
        assert new.cancelled_count == old.cancelled_count + 1, period
