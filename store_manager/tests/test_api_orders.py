"""manager/orders/…: list filters, detail, status actions, bulk changes, isolation, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.models import Order, OrderStatus, OrderStatusHistory
from products.models import SKU
from store_manager import analytics
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    customer_of,
    make_manager,
    order_in,
)
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = BASE + "orders/"


@pytest.fixture
def manager():
    return make_manager("manager", **ALL_FLAGS)


@pytest.fixture
def client(manager):
    return client_of(manager)


def _numbers(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["order_number"] for row in response.json()["results"]]


def _at(order: Order, moment) -> Order:
    Order.objects.filter(pk=order.pk).update(created_at=moment)
    order.refresh_from_db()
    return order


# --------------------------------------------------------------------------- list


def test_list_shows_only_the_active_market_newest_first(client):
    old = _at(order_in("KG"), timezone.now() - timedelta(hours=2))
    new = order_in("KG", items=3, total="300.00")
    order_in("US")
    body = client.get(URL).json()
    assert body["count"] == 2
    assert [row["order_number"] for row in body["results"]] == [new.order_number, old.order_number]
    row = body["results"][0]
    assert row["item_count"] == 3
    assert "items_count" not in row  # one name per meaning: the cart and customer orders say it
    assert row["total"] == "300.00" and row["currency"] == "KGS"
    assert row["customer"]["phone"] == new.user.phone
    assert row["created_at"].endswith("Z")


def test_filters_by_status_and_payment(client):
    pending = order_in("KG")
    shipped = order_in("KG", status=OrderStatus.SHIPPED, payment_status="paid")
    assert _numbers(client.get(URL, {"status": "shipped"})) == [shipped.order_number]
    assert _numbers(client.get(URL, {"payment_status": "unpaid"})) == [pending.order_number]
    assert _numbers(client.get(URL, {"payment_method": "card"})) == []
    response = client.get(URL, {"status": "lost"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid")


def test_date_range_and_today_are_market_dates():
    """Bishkek is UTC+6: 18:30 UTC is already the next local day."""
    kg_manager = make_manager("manager", **ALL_FLAGS)
    client = client_of(kg_manager)
    now = timezone.now()
    today = analytics.local_date("KG", now)
    midnight = analytics.local_midnight("KG", today)
    before = _at(order_in("KG"), midnight - timedelta(seconds=1))  # yesterday, local
    after = _at(order_in("KG"), midnight)  # today, local (may still be "yesterday" in UTC)
    assert _numbers(client.get(URL, {"today": "true"})) == [after.order_number]
    yesterday = (today - timedelta(days=1)).isoformat()
    day = {"date_from": yesterday, "date_to": yesterday}
    assert _numbers(client.get(URL, day)) == [before.order_number]
    both = {"date_from": yesterday, "date_to": today.isoformat()}
    assert _numbers(client.get(URL, both)) == [after.order_number, before.order_number]
    response = client.get(URL, {"date_from": today.isoformat(), "date_to": yesterday})
    assert response.status_code == 400


def test_search_by_number_phone_and_name(client):
    aida = order_in("KG", user=UserFactory(first_name="Aida", last_name="Bekova"))
    other = order_in(
        "KG",
        user=UserFactory(first_name="Timur", last_name="Asanov"),
        shipping_recipient="Timur Asanov",
    )
    assert _numbers(client.get(URL, {"search": aida.order_number.lower()})) == [aida.order_number]
    digits = other.user.phone[-7:]
    assert _numbers(client.get(URL, {"search": digits})) == [other.order_number]
    assert _numbers(client.get(URL, {"search": "aida bekova"})) == [aida.order_number]
    assert _numbers(client.get(URL, {"search": "nobody"})) == []


@pytest.mark.parametrize("many", [1000, 0])  # an id list, or (a common word) a subquery
def test_search_finds_the_customer_not_only_the_recipient(client, monkeypatch, many):
    from store_manager.selectors import orders

    monkeypatch.setattr(orders, "_MANY", many)
    gift = order_in(
        "KG",
        user=UserFactory(first_name="Nurlan", last_name="Toktogulov"),
        shipping_recipient="Mother",
        shipping_phone="+996700999000",
    )
    order_in("KG", user=UserFactory(first_name="Bakyt", last_name="Usenov"))
    assert _numbers(client.get(URL, {"search": "toktog"})) == [gift.order_number]
    assert _numbers(client.get(URL, {"search": "nurlan mother"})) == [gift.order_number]
    assert _numbers(client.get(URL, {"search": "999000"})) == [gift.order_number]


def test_a_whole_order_number_or_phone_is_looked_up_exactly(client):
    mine = order_in("KG", shipping_phone="+996555000111")
    order_in("KG", order_number=mine.order_number + "X")  # contains the number
    exact = client.get(URL, {"search": f" {mine.order_number.lower()} "})
    assert _numbers(exact) == [mine.order_number]
    # The customer's phone: that customer's orders.
    assert _numbers(client.get(URL, {"search": mine.user.phone})) == [mine.order_number]
    # A phone that is no customer's: still found as a shipping phone.
    assert _numbers(client.get(URL, {"search": "+996 555 000 111"})) == [mine.order_number]


def test_ordering_by_total(client):
    cheap = order_in("KG", total="100.00")
    dear = order_in("KG", total="900.00")
    assert _numbers(client.get(URL, {"ordering": "total"})) == [
        cheap.order_number,
        dear.order_number,
    ]
    assert _numbers(client.get(URL, {"ordering": "-total"})) == [
        dear.order_number,
        cheap.order_number,
    ]
    assert client.get(URL, {"ordering": "user__phone"}).status_code == 400


def test_pagination_shape(client):
    for _ in range(3):
        order_in("KG")
    body = client.get(URL, {"page_size": 2}).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert (body["count"], len(body["results"])) == (3, 2)


def _count_queries(client, page_size: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == min(page_size, Order.objects.count())
    return len(queries)


def test_list_runs_a_constant_number_of_queries(client):
    for _ in range(3):
        order_in("KG", items=2)
    small = _count_queries(client, 1)
    for _ in range(20):
        order_in("KG", items=3)
    assert _count_queries(client, 100) == small
    # user (token), manager, count, page: nothing per row
    assert small <= 4


# --------------------------------------------------------------------------- detail


def test_detail_has_items_customer_address_and_history_with_actors(client, manager):
    order = order_in("KG", items=2)
    OrderStatusHistory.objects.create(order=order, from_status=None, to_status="pending")
    client.post(f"{URL}{order.order_number}/status/", {"status": "confirmed", "note": "called"})
    with CaptureQueriesContext(connection) as queries:
        body = client.get(f"{URL}{order.order_number}/").json()
    # user, manager, order+customer, items, history+actors, payments (+ refunds when paid)
    assert len(queries) <= 7
    assert len(body["items"]) == 2
    assert body["customer"]["id"] == order.user_id
    assert body["shipping_address"]["city"] == "Bishkek"
    assert [(h["from_status"], h["to_status"]) for h in body["status_history"]] == [
        (None, "pending"),
        ("pending", "confirmed"),
    ]
    assert body["status_history"][0]["changed_by"] is None
    assert body["status_history"][1]["changed_by"]["id"] == manager.user_id
    assert body["status_history"][1]["note"] == "called"


# --------------------------------------------------------------------------- actions


def test_status_change_goes_through_the_status_machine(client, manager):
    order = order_in("KG")
    response = client.post(f"{URL}{order.order_number}/status/", {"status": "confirmed"})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "confirmed"
    order.refresh_from_db()
    assert order.status == "confirmed" and order.confirmed_at is not None
    history = order.status_history.get(to_status="confirmed")
    assert history.changed_by_id == manager.user_id

    skip = client.post(f"{URL}{order.order_number}/status/", {"status": "delivered"})
    assert (skip.status_code, skip.json()["code"]) == (409, "invalid_transition")


@pytest.mark.parametrize("target", ["cancelled", "pending"])
def test_status_cannot_cancel_or_resume(client, target):
    order = order_in("KG", status=OrderStatus.CONFIRMED)
    response = client.post(f"{URL}{order.order_number}/status/", {"status": target})
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert "status" in response.json()["errors"]
    order.refresh_from_db()
    assert order.status == "confirmed"


def test_cancel_returns_stock_and_keeps_the_reason(client):
    order = order_in("KG", stock=4)
    sku = order.items.get().sku
    response = client.post(f"{URL}{order.order_number}/cancel/", {"reason": "no answer"})
    assert response.status_code == 200, response.json()
    assert response.json()["cancel_reason"] == "no answer"
    sku.refresh_from_db()
    assert sku.stock == 5
    again = client.post(f"{URL}{order.order_number}/cancel/")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    sku.refresh_from_db()
    assert sku.stock == 5  # returned once


def test_resume_takes_stock_again_or_refuses(client):
    order = order_in("KG", stock=1)
    sku = order.items.get().sku
    client.post(f"{URL}{order.order_number}/cancel/")
    SKU.objects.filter(pk=sku.pk).update(stock=0)  # sold to someone else meanwhile
    refused = client.post(f"{URL}{order.order_number}/resume/")
    assert (refused.status_code, refused.json()["code"]) == (409, "out_of_stock")
    order.refresh_from_db()
    assert order.status == "cancelled"

    SKU.objects.filter(pk=sku.pk).update(stock=1)
    resumed = client.post(f"{URL}{order.order_number}/resume/", {"note": "found it"})
    assert resumed.status_code == 200, resumed.json()
    assert resumed.json()["status"] == "pending"
    sku.refresh_from_db()
    assert sku.stock == 0


def test_resume_of_an_order_that_is_not_cancelled_is_409(client):
    order = order_in("KG")
    response = client.post(f"{URL}{order.order_number}/resume/")
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")


# --------------------------------------------------------------------------- bulk


BULK = URL + "bulk-status/"


def test_bulk_status_changes_every_order(client):
    orders = [order_in("KG") for _ in range(3)]
    numbers = [o.order_number for o in orders]
    response = client.post(BULK, {"order_numbers": numbers, "status": "confirmed", "note": "ok"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["updated"] == 3
    assert [row["order_number"] for row in body["orders"]] == numbers
    assert set(Order.objects.values_list("status", flat=True)) == {"confirmed"}


def test_bulk_status_is_all_or_nothing(client):
    ok = order_in("KG")
    stuck = order_in("KG", status=OrderStatus.DELIVERED)
    response = client.post(
        BULK, {"order_numbers": [ok.order_number, stuck.order_number], "status": "confirmed"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["order_number"] == stuck.order_number
    ok.refresh_from_db()
    assert ok.status == "pending"
    assert not OrderStatusHistory.objects.filter(order=ok).exists()


def test_bulk_status_with_an_order_of_another_market_changes_nothing(client):
    ok = order_in("KG")
    foreign = order_in("US")
    response = client.post(
        BULK, {"order_numbers": [ok.order_number, foreign.order_number], "status": "confirmed"}
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert response.json()["order_numbers"] == [foreign.order_number]
    ok.refresh_from_db()
    foreign.refresh_from_db()
    assert (ok.status, foreign.status) == ("pending", "pending")


def test_bulk_status_validates_its_input(client):
    assert client.post(BULK, {"order_numbers": [], "status": "confirmed"}).status_code == 400
    too_many = [f"KG-X{i}" for i in range(101)]
    assert client.post(BULK, {"order_numbers": too_many, "status": "confirmed"}).status_code == 400
    assert client.post(BULK, {"order_numbers": ["KG-1"], "status": "cancelled"}).status_code == 400


# --------------------------------------------------------------------------- isolation


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", {}),
        ("post", "status/", {"status": "confirmed"}),
        ("post", "cancel/", {}),
        ("post", "resume/", {}),
    ],
)
def test_an_order_of_another_market_is_404(client, method, suffix, body):
    foreign = order_in("US", status=OrderStatus.PENDING)
    if suffix == "resume/":
        Order.objects.filter(pk=foreign.pk).update(status=OrderStatus.CANCELLED)
    response = getattr(client, method)(f"{URL}{foreign.order_number}/{suffix}", body)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    before = foreign.status if suffix != "resume/" else "cancelled"
    foreign.refresh_from_db()
    assert foreign.status == before


def test_switching_market_switches_every_list():
    admin = make_manager("admin")
    client = client_of(admin)
    kg, us = order_in("KG"), order_in("US")
    assert _numbers(client.get(URL)) == [kg.order_number]
    assert client.patch(BASE + "me/", {"active_market": "US"}).status_code == 200
    assert _numbers(client.get(URL)) == [us.order_number]
    assert client.get(f"{URL}{kg.order_number}/").status_code == 404
    assert client.get(f"{URL}{us.order_number}/").status_code == 200


def test_a_customer_is_refused_even_for_its_own_order():
    order = order_in("KG")
    response = client_of(order.user).get(f"{URL}{order.order_number}/")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_us_customer_helper_makes_us_orders():
    assert order_in("US", user=customer_of("US")).currency == "USD"
