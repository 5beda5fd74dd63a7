"""Own orders: list, detail, customer cancel (SPEC §5)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import Order, OrderStatusHistory
from orders.services.transitions import order_transition
from orders.tests.helpers import checkout, fill_cart, priced_sku
from products.models import SKU
from users.models import Notification
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"


def place(user, *lines) -> Order:
    fill_cart(user, *lines)
    return checkout(user).order


def test_list_shows_only_my_orders_newest_first(customer, customer_client):
    first = place(customer, (priced_sku(), 1))
    second = place(customer, (priced_sku(), 2))
    place(UserFactory(phone="+996700333444"), (priced_sku(), 1))

    data = customer_client.get(ORDERS).json()

    assert data["count"] == 2
    assert [o["order_number"] for o in data["results"]] == [
        second.order_number,
        first.order_number,
    ]
    assert data["results"][0]["item_count"] == 2
    assert "status_history" not in data["results"][0]


def test_list_filters_by_status(customer, customer_client):
    keep = place(customer, (priced_sku(), 1))
    cancelled = place(customer, (priced_sku(), 1))
    order_transition(order=cancelled, to_status="cancelled", actor=customer)
    data = customer_client.get(ORDERS, {"status": "pending"}).json()
    assert [o["order_number"] for o in data["results"]] == [keep.order_number]
    response = customer_client.get(ORDERS, {"status": "lost"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_detail_has_items_and_history(customer, customer_client):
    order = place(customer, (priced_sku(), 1))
    order_transition(order=order, to_status="confirmed", actor=None, note="called")
    data = customer_client.get(f"{ORDERS}{order.order_number}/").json()
    assert data["status"] == "confirmed"
    assert data["confirmed_at"] is not None
    assert [(h["from_status"], h["to_status"], h["note"]) for h in data["status_history"]] == [
        (None, "pending", ""),
        ("pending", "confirmed", "called"),
    ]


def test_someone_elses_order_is_404(customer_client):
    other = place(UserFactory(phone="+996700333444"), (priced_sku(), 1))
    for path in (f"{ORDERS}{other.order_number}/", f"{ORDERS}{other.order_number}/cancel/"):
        response = (
            customer_client.post(path, {}, format="json")
            if path.endswith("cancel/")
            else customer_client.get(path)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert Order.objects.get(pk=other.pk).status == "pending"


def test_cancel_returns_stock_and_records_history(customer, customer_client):
    sku = priced_sku(stock=5)
    order = place(customer, (sku, 3))
    assert SKU.objects.get(pk=sku.pk).stock == 2

    response = customer_client.post(
        f"{ORDERS}{order.order_number}/cancel/", {"reason": "changed my mind"}, format="json"
    )

    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "cancelled"
    assert data["cancel_reason"] == "changed my mind"
    assert data["cancelled_at"] is not None
    assert data["can_cancel"] is False
    assert SKU.objects.get(pk=sku.pk).stock == 5
    row = OrderStatusHistory.objects.filter(order=order).last()
    assert (row.from_status, row.to_status, row.changed_by) == ("pending", "cancelled", customer)


def test_cancel_while_confirmed_is_allowed(customer, customer_client):
    order = place(customer, (priced_sku(), 1))
    order_transition(order=order, to_status="confirmed", actor=None)
    response = customer_client.post(f"{ORDERS}{order.order_number}/cancel/", {}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path", [["confirmed", "processing"], ["confirmed", "processing", "shipped"]]
)
def test_cancel_after_processing_starts_is_409(customer, customer_client, path):
    sku = priced_sku(stock=5)
    order = place(customer, (sku, 1))
    for status in path:
        order_transition(order=order, to_status=status, actor=None)
    response = customer_client.post(f"{ORDERS}{order.order_number}/cancel/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert Order.objects.get(pk=order.pk).status == path[-1]
    assert SKU.objects.get(pk=sku.pk).stock == 4


def test_cancelling_twice_returns_stock_once(customer, customer_client):
    sku = priced_sku(stock=5)
    order = place(customer, (sku, 2))
    url = f"{ORDERS}{order.order_number}/cancel/"
    assert customer_client.post(url, {}, format="json").status_code == 200
    assert customer_client.post(url, {}, format="json").status_code == 409
    assert SKU.objects.get(pk=sku.pk).stock == 5


def test_customer_is_told_about_each_status(customer, django_capture_on_commit_callbacks):
    from users import sms

    with django_capture_on_commit_callbacks(execute=True):
        order = place(customer, (priced_sku(), 1))
        for status in ("confirmed", "processing", "shipped", "delivered"):
            order_transition(order=order, to_status=status, actor=None)
    statuses = [n.data["status"] for n in Notification.objects.order_by("id")]
    assert statuses == ["pending", "confirmed", "processing", "shipped", "delivered"]
    assert [m.to for m in sms.outbox] == [customer.phone, customer.phone]


@pytest.mark.parametrize("page_size", [1, 20])
def test_list_query_count_is_constant(customer, customer_client, page_size):
    for _ in range(page_size + 1):
        place(customer, (priced_sku(), 1), (priced_sku(), 2))
    with CaptureQueriesContext(connection) as queries:
        response = customer_client.get(ORDERS, {"page_size": page_size})
    assert len(response.json()["results"]) == page_size
    # user, count, orders, items: the same for 1 or 20 orders.
    assert len(queries) == 4


def test_detail_query_count(customer, customer_client):
    order = place(customer, *[(priced_sku(), 1) for _ in range(5)])
    with CaptureQueriesContext(connection) as queries:
        customer_client.get(f"{ORDERS}{order.order_number}/")
    assert len(queries) == 6  # user, order, items, history, payments, refunds
