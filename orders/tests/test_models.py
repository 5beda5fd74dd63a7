from decimal import Decimal

import pytest
from django.db.models import ProtectedError

from main.testing import violates_constraint
from orders.models import Order, OrderStatusHistory
from orders.tests.factories import OrderFactory, OrderItemFactory
from products.tests.factories import ProductFactory
from reviews.models import Review
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _review(**kwargs):
    fields = {"user": UserFactory(), "product": ProductFactory(), "rating": 5}
    return Review.objects.create(**(fields | kwargs))


@pytest.mark.parametrize("rating", [0, 6])
def test_rating_outside_one_to_five_is_refused(rating):
    with violates_constraint("review_rating_range"):
        _review(rating=rating)


def test_one_review_per_user_and_product():
    review = _review(rating=4)
    with violates_constraint("review_user_product_unique"):
        _review(user=review.user, product=review.product)


def test_order_number_is_unique():
    OrderFactory(order_number="KG-7H3K9PXA")
    with violates_constraint("orders_order_order_number_key"):
        OrderFactory(order_number="KG-7H3K9PXA")


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"status": "lost"}, "order_status_valid"),
        ({"market": "RU"}, "order_market_valid"),
        ({"currency": "EUR"}, "order_currency_valid"),
        ({"total": Decimal("-1.00")}, "order_money_non_negative"),
    ],
)
def test_order_refuses_impossible_values(fields, constraint):
    with violates_constraint(constraint):
        OrderFactory(**fields)


def test_order_item_quantity_is_positive():
    with violates_constraint("order_item_quantity_positive"):
        OrderItemFactory(quantity=0)


def test_a_user_with_orders_cannot_be_deleted():
    order = OrderFactory()
    with pytest.raises(ProtectedError):
        order.user.delete()
    assert Order.objects.filter(pk=order.pk).exists()


def test_status_history_keeps_its_rows_when_the_actor_is_deleted():
    order = OrderFactory()
    actor = UserFactory()
    OrderStatusHistory.objects.create(order=order, to_status="pending")
    OrderStatusHistory.objects.create(
        order=order, from_status="pending", to_status="confirmed", changed_by=actor
    )
    actor.delete()
    assert list(order.status_history.values_list("to_status", "changed_by")) == [
        ("pending", None),
        ("confirmed", None),
    ]


def test_deleting_an_order_item_keeps_the_review():
    item = OrderItemFactory()
    review = _review(order_item=item)
    item.delete()
    review.refresh_from_db()
    assert review.order_item is None


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"payment_method": "bitcoin"}, "order_payment_method_valid"),
        ({"payment_status": "maybe"}, "order_payment_status_valid"),
    ],
)
def test_order_payment_fields_are_checked_by_the_database(fields, constraint):
    with violates_constraint(constraint):
        OrderFactory(**fields)
