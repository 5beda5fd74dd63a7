"""The order status machine (SPEC §4): one transition table, one service function."""

from __future__ import annotations

import itertools

import pytest

from orders.models import Order, OrderStatus
from orders.services.transitions import TRANSITIONS, InvalidTransition, order_transition
from orders.tests.helpers import checkout, fill_cart, priced_sku
from products.models import SKU
from products.services.stock import OutOfStock

pytestmark = pytest.mark.django_db

ALLOWED = {
    ("pending", "confirmed"), ("confirmed", "processing"), ("processing", "shipped"),
    ("shipped", "delivered"), ("pending", "cancelled"), ("confirmed", "cancelled"),
    ("processing", "cancelled"), ("cancelled", "pending"),
}  # fmt: skip


def test_table_is_the_spec():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


def order_in(status, customer, sku=None):
    sku = sku or priced_sku(stock=10)
    fill_cart(customer, (sku, 1))
    order = checkout(customer).order
    Order.objects.filter(pk=order.pk).update(status=status)
    order.refresh_from_db()
    return order


@pytest.mark.parametrize(
    ("start", "target"),
    [pair for pair in itertools.product(OrderStatus.values, repeat=2) if pair not in ALLOWED],
)
def test_every_other_move_is_409(customer, start, target):
    order = order_in(start, customer)
    with pytest.raises(InvalidTransition) as error:
        order_transition(order=order, to_status=target, actor=None, by_manager=True)
    assert error.value.status_code == 409
    assert error.value.code == "invalid_transition"
    assert Order.objects.get(pk=order.pk).status == start


def test_milestones_are_stamped(customer):
    order = order_in("pending", customer)
    for status, field in [
        ("confirmed", "confirmed_at"), ("processing", None), ("shipped", "shipped_at"),
        ("delivered", "delivered_at"),
    ]:  # fmt: skip
        order = order_transition(order=order, to_status=status, actor=None)
        if field:
            assert getattr(order, field) is not None
    assert order.status_history.count() == 5


def test_resume_is_for_managers_only(customer):
    order = order_in("pending", customer)
    order_transition(order=order, to_status="cancelled", actor=customer)
    with pytest.raises(InvalidTransition):
        order_transition(order=order, to_status="pending", actor=customer)


def test_resume_takes_the_stock_again(customer):
    sku = priced_sku(stock=3)
    order = order_in("pending", customer, sku=sku)
    order_transition(order=order, to_status="cancelled", actor=None, note="no answer")
    assert SKU.objects.get(pk=sku.pk).stock == 3
    order = order_transition(order=order, to_status="pending", actor=None, by_manager=True)
    assert SKU.objects.get(pk=sku.pk).stock == 2
    assert (order.status, order.cancelled_at, order.cancel_reason) == ("pending", None, "")


def test_resume_without_stock_is_409_and_changes_nothing(customer):
    sku = priced_sku(stock=1)
    order = order_in("pending", customer, sku=sku)
    order_transition(order=order, to_status="cancelled", actor=None)
    SKU.objects.filter(pk=sku.pk).update(stock=0)
    with pytest.raises(OutOfStock) as error:
        order_transition(order=order, to_status="pending", actor=None, by_manager=True)
    assert error.value.extra["skus"] == [sku.code]
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert SKU.objects.get(pk=sku.pk).stock == 0


def test_resume_of_a_deleted_sku_is_409(customer):
    sku = priced_sku(stock=1)
    order = order_in("pending", customer, sku=sku)
    order_transition(order=order, to_status="cancelled", actor=None)
    sku.delete()
    with pytest.raises(OutOfStock):
        order_transition(order=order, to_status="pending", actor=None, by_manager=True)
