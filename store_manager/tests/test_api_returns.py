"""manager/returns/…: the manager side of returns (SPEC §10), through the API.

The flow on a KG cash-on-delivery order (approve, receive with damaged units,
refund in cash or by bank transfer), rejection, exchanges, market isolation,
filters, the audit log, permissions, refused transitions that change nothing,
query counts, and the return rate by product.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from orders.models import Order, Refund, ReturnRequest, ReturnStatusHistory
from orders.services.payments import payment_refund
from orders.services.returns import return_request_create, return_transition
from orders.tests.returns_support import delivered_order, line, sizes
from store_manager.models import ManagerActivityLog
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    customer_of,
    make_manager,
)
from store_manager.tests.returns_api_support import (
    RETURNS,
    make_return,
    receipt,
    stock_of,
)
from users.models import Notification

pytestmark = pytest.mark.django_db

RATES = RETURNS + "products/"
BISHKEK = ZoneInfo("Asia/Bishkek")


@pytest.fixture
def manager():
    return make_manager("manager", **ALL_FLAGS)


@pytest.fixture
def client(manager):
    return client_of(manager)


def _logs(action: str | None = None):
    rows = ManagerActivityLog.objects.filter(object_type="return")
    return rows.filter(action=action) if action else rows


def _snapshot(made):
    """Everything a refused request must leave as it was."""
    ret = made.refresh()
    return (
        ret.status,
        ret.reject_reason,
        ret.refunded_amount,
        ret.replacement_order_id,
        list(ret.items.values_list("received_quantity", "damaged_quantity")),
        ReturnStatusHistory.objects.filter(return_request=ret).count(),
        [stock_of(sku) for sku in made.skus],
        Refund.objects.count(),
        _logs().count(),
        Order.objects.count(),
    )


# --------------------------------------------------------------------------- the flow


def test_approve_receive_with_damage_and_refund_by_bank_transfer(
    client, manager, django_capture_on_commit_callbacks
):
    made = make_return("KG", bought=3, quantity=2)  # 2 of 3 units of M at 1290.00
    assert made.order.payment_status == "paid"  # the courier collected 3870.00 + 200.00
    assert stock_of(made.bought) == 7

    approved = client.post(made.url("approve"), {"note": "send it to the Bishkek shop"})
    assert approved.status_code == 200, approved.json()
    body = approved.json()
    assert body["status"] == "approved"
    assert body["approved_at"]
    last = body["status_history"][-1]
    assert (last["from_status"], last["to_status"], last["note"]) == (
        "requested",
        "approved",
        "send it to the Bishkek shop",
    )
    assert last["changed_by"]["id"] == manager.user.pk
    assert last["changed_by"]["phone"] == manager.user.phone
    assert body["status_history"][0]["changed_by"]["id"] == made.order.user_id  # the customer

    line_id = made.ret.items.get().pk
    received = client.post(
        made.url("receive"),
        {"items": [{"id": line_id, "received_quantity": 2, "damaged_quantity": 1}], "note": "ok"},
    )
    assert received.status_code == 200, received.json()
    body = received.json()
    assert body["status"] == "received"
    assert (body["items"][0]["received_quantity"], body["items"][0]["damaged_quantity"]) == (2, 1)
    assert body["refund_due"] == "2580.00"
    assert stock_of(made.bought) == 8  # only the sound unit went back

    too_much = client.post(made.url("refund"), {"amount": "4070.01", "method": "cash"})
    assert too_much.status_code == 400
    assert too_much.json()["code"] == "refund_exceeds_paid"
    assert made.refresh().status == "received"
    assert not Refund.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        refunded = client.post(
            made.url("refund"), {"method": "bank_transfer", "reason": "two shirts back"}
        )
    assert refunded.status_code == 200, refunded.json()
    body = refunded.json()
    assert body["status"] == "refunded"
    assert body["refunded_amount"] == "2580.00"
    assert body["closed_at"]
    assert body["payment_status"] == "partially_refunded"
    refund = Refund.objects.get()
    assert (refund.amount, refund.method, refund.created_by_id) == (
        Decimal("2580.00"),
        "bank_transfer",
        manager.user.pk,
    )
    assert Notification.objects.filter(user=made.order.user, data__refund=refund.pk).exists()

    logs = {log.action: log for log in _logs()}
    assert set(logs) == {"return_approved", "return_received", "return_refunded"}
    for action, before, after in (
        ("return_approved", "requested", "approved"),
        ("return_received", "approved", "received"),
        ("return_refunded", "received", "refunded"),
    ):
        log = logs[action]
        assert (log.manager_id, log.market, log.object_id) == (
            manager.pk,
            "KG",
            made.ret.return_number,
        )
        assert log.metadata["before"] == {"status": before}
        assert log.metadata["after"] == {"status": after}
        assert log.metadata["order_number"] == made.order.order_number
    assert logs["return_approved"].metadata["note"] == "send it to the Bishkek shop"
    assert logs["return_received"].metadata["items"] == [
        {"id": line_id, "received_quantity": 2, "damaged_quantity": 1}
    ]
    assert logs["return_received"].metadata["restocked"] == 1
    assert logs["return_refunded"].metadata == {
        "order_number": made.order.order_number,
        "reason": "two shirts back",
        "method": "bank_transfer",
        "amount": "2580.00",
        "refund_id": refund.pk,
        "before": {"status": "received"},
        "after": {"status": "refunded"},
    }
    assert logs["return_refunded"].description == (
        f"{made.ret.return_number}: refunded 2580.00 KGS (bank_transfer)"
    )


def test_a_refund_is_never_more_than_paid_minus_refunded(client, manager):
    made = make_return("KG", status="received", bought=3, quantity=2)  # due 2580.00
    payment_refund(
        order=made.order, amount=Decimal("3000.00"), reason="goodwill", method="cash", actor=None
    )  # fmt: skip  (1070.00 left of 4070.00)

    over = client.post(made.url("refund"), {"amount": "1070.01"})
    assert over.status_code == 400
    assert over.json()["code"] == "refund_exceeds_paid"
    assert over.json()["refundable"] == "1070.00"
    assert made.refresh().status == "received"

    done = client.post(made.url("refund"), {})  # default: due, capped at what is left
    assert done.status_code == 200, done.json()
    assert (done.json()["status"], done.json()["refunded_amount"]) == ("refunded", "1070.00")
    assert done.json()["payment_status"] == "refunded"
    assert Refund.objects.filter(amount=Decimal("1070.00"), method="cash").exists()


def test_an_explicit_amount_may_exceed_what_is_due_but_not_what_was_paid(client):
    made = make_return("KG", status="received", bought=3, quantity=1)  # due 1290.00
    response = client.post(made.url("refund"), {"amount": "1500.00", "method": "cash"})
    assert response.status_code == 200, response.json()
    assert response.json()["refunded_amount"] == "1500.00"


def test_a_refund_with_nothing_left_to_refund_is_409_and_changes_nothing(client):
    made = make_return("KG", status="received", bought=2, quantity=1)
    payment_refund(order=made.order, amount=None, reason="all", method="cash", actor=None)
    before = _snapshot(made)
    response = client.post(made.url("refund"), {})
    assert (response.status_code, response.json()["code"]) == (409, "not_refundable")
    assert _snapshot(made) == before


def test_an_amount_of_zero_settles_a_return_with_nothing_left_to_refund(client):
    made = make_return("KG", status="received", bought=2, quantity=1)
    payment_refund(order=made.order, amount=None, reason="all", method="cash", actor=None)
    refunds = Refund.objects.count()

    response = client.post(made.url("refund"), {"amount": "0.00", "reason": "paid back"})

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["refunded_amount"]) == ("refunded", "0.00")
    assert Refund.objects.count() == refunds
    (log,) = _logs("return_refunded")
    assert log.metadata["amount"] == "0.00" and log.metadata["refund_id"] is None


def test_a_card_method_on_a_cash_order_is_400(client):
    made = make_return("KG", status="received")
    before = _snapshot(made)
    response = client.post(made.url("refund"), {"method": "card"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert _snapshot(made) == before


def test_reject_with_a_reason_releases_the_exchange_holds(client, manager):
    made = make_return("KG", bought=2, quantity=2, exchange=True, reason="size_too_small")
    wanted = made.skus[2]  # size L, 2 units held at once
    assert stock_of(wanted) == 8

    blank = client.post(made.url("reject"), {"reason": "   "})
    assert (blank.status_code, blank.json()["code"]) == (400, "invalid")
    assert "reason" in blank.json()["errors"]
    missing = client.post(made.url("reject"), {})
    assert (missing.status_code, missing.json()["code"]) == (400, "invalid")
    assert stock_of(wanted) == 8 and made.refresh().status == "requested"

    response = client.post(made.url("reject"), {"reason": "worn, tags removed"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["reject_reason"]) == ("rejected", "worn, tags removed")
    assert body["closed_at"]
    assert body["status_history"][-1]["changed_by"]["id"] == manager.user.pk
    assert stock_of(wanted) == 10
    assert stock_of(made.bought) == 8  # the bought units stay with the customer

    log = _logs("return_rejected").get()
    assert log.metadata["reason"] == "worn, tags removed"
    assert (log.metadata["before"], log.metadata["after"]) == (
        {"status": "requested"},
        {"status": "rejected"},
    )


def test_receiving_an_exchange_ships_a_replacement_and_closes_it_as_exchanged(client):
    made = make_return("KG", status="approved", bought=2, quantity=2, exchange=True)
    wanted = made.skus[2]
    assert stock_of(wanted) == 8

    response = client.post(made.url("receive"), receipt(made.ret, received=1))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "exchanged"
    assert body["replacement_order_number"]
    replacement = Order.objects.get(order_number=body["replacement_order_number"])
    assert (replacement.is_replacement, replacement.total) == (True, Decimal("0.00"))
    assert list(replacement.items.values_list("sku_id", "quantity")) == [(wanted.pk, 1)]
    assert stock_of(wanted) == 9  # the unit that never came back is on sale again
    assert stock_of(made.bought) == 9  # the one that came back, sound

    log = _logs("return_received").get()
    assert log.metadata["after"] == {"status": "exchanged"}
    assert log.metadata["replacement_order_number"] == replacement.order_number


def test_a_receipt_must_name_every_line_within_its_quantity(client):
    made = make_return("KG", status="approved", bought=3, quantity=2)
    before = _snapshot(made)
    item = made.ret.items.get()
    for items in (
        [{"id": item.pk, "received_quantity": 1, "damaged_quantity": 2}],  # damaged > received
        [{"id": item.pk, "received_quantity": 3}],  # more than the line
        [{"id": item.pk + 1000, "received_quantity": 1}],  # not a line of it
        [],  # nothing
    ):
        response = client.post(made.url("receive"), {"items": items})
        assert (response.status_code, response.json()["code"]) == (400, "invalid"), items
    assert _snapshot(made) == before


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("status", "action", "body"),
    [
        ("approved", "approve", {}),
        ("approved", "reject", {"reason": "too late"}),
        ("requested", "receive", None),
        ("requested", "refund", {"method": "cash"}),
        ("approved", "refund", {"amount": "10.00"}),
        ("received", "approve", {}),
        ("received", "receive", None),
        ("refunded", "refund", {"amount": "10.00"}),
        ("rejected", "approve", {}),
        ("cancelled", "reject", {"reason": "again"}),
    ],
)
def test_an_invalid_transition_is_409_and_changes_nothing(client, status, action, body):
    start = {"refunded": "received", "rejected": "requested", "cancelled": "requested"}
    made = make_return("KG", status=start.get(status, status))
    if status == "refunded":
        assert client.post(made.url("refund"), {"amount": "10.00"}).status_code == 200
    elif status in ("rejected", "cancelled"):
        return_transition(ret=made.ret, to_status=status, actor=None, note="x")
    assert made.refresh().status == status
    before = _snapshot(made)
    response = client.post(made.url(action), receipt(made.ret) if body is None else body)
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["status"] == status
    assert _snapshot(made) == before


# --------------------------------------------------------------------------- markets


def test_a_return_of_the_other_market_is_404_on_every_route(manager):
    us = make_return("US", price="40.00")
    us_received = make_return("US", status="received", price="40.00")
    client = client_of(make_manager("admin"))  # both markets, active KG
    before = _snapshot(us), _snapshot(us_received)
    for made, action, body in (
        (us, "", None),
        (us, "approve", {}),
        (us, "reject", {"reason": "no"}),
        (us_received, "refund", {"method": "cash"}),
        (us, "receive", receipt(us.ret)),
    ):
        if body is None:
            response = client.get(made.url(action))
        else:
            response = client.post(made.url(action), body)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), action
    assert client.get(RETURNS).json()["count"] == 0
    assert client.get(RATES).json()["count"] == 0
    assert (_snapshot(us), _snapshot(us_received)) == before

    us_manager = client_of(make_manager("manager", market="US", **ALL_FLAGS))
    listed = us_manager.get(RETURNS).json()
    assert {row["return_number"] for row in listed["results"]} == {
        us.ret.return_number,
        us_received.ret.return_number,
    }
    assert {row["currency"] for row in listed["results"]} == {"USD"}
    assert us_manager.get(us.url()).status_code == 200


def test_an_unknown_or_malformed_return_number_is_404(client):
    for number in ("R-NOSUCH00", "r-nosuch00", "KG-12345678"):
        response = client.get(f"{RETURNS}{number}/")
        assert response.status_code == 404, number
        assert response.json()["code"] == "not_found"


def test_the_path_may_use_any_case(client):
    made = make_return("KG")
    response = client.get(f"{RETURNS}{made.ret.return_number.lower()}/")
    assert response.status_code == 200
    assert response.json()["return_number"] == made.ret.return_number


# --------------------------------------------------------------------------- reads


def test_the_detail_shows_customer_payment_and_history(client):
    customer = customer_of("KG")
    customer.first_name, customer.last_name = "Aida", "Bekova"
    customer.save(update_fields=["first_name", "last_name"])
    made = make_return("KG", user=customer)
    body = client.get(made.url()).json()
    assert body["return_number"] == made.ret.return_number
    assert body["order_number"] == made.order.order_number
    assert body["customer"] == {
        "id": customer.pk,
        "phone": customer.phone,
        "first_name": "Aida",
        "last_name": "Bekova",
        "name": "Aida Bekova",
    }
    assert (body["payment_method"], body["payment_status"]) == ("cash_on_delivery", "paid")
    assert (body["market"], body["currency"]) == ("KG", "KGS")
    assert body["items"][0]["quantity"] == 2 and body["items"][0]["reason"] == "size_too_small"
    assert body["status_history"] == [
        {
            "from_status": None,
            "to_status": "requested",
            "changed_by": {
                "id": customer.pk,
                "phone": customer.phone,
                "first_name": "Aida",
                "last_name": "Bekova",
            },
            "note": "",
            "created_at": body["status_history"][0]["created_at"],
        }
    ]


def test_the_history_shows_a_system_change_without_actor(client):
    made = make_return("KG", status="approved")  # approved by actor=None
    history = client.get(made.url()).json()["status_history"]
    assert history[-1]["to_status"] == "approved"
    assert history[-1]["changed_by"] is None


def _at(made, moment: datetime) -> None:
    ReturnRequest.objects.filter(pk=made.ret.pk).update(created_at=moment)


def test_the_list_filters_by_status_and_market_dates(client):
    skus = sizes(market="KG", stocks=(50, 50, 50))
    late = make_return("KG", skus=skus)  # 2026-03-10 23:30 in Bishkek (17:30 UTC)
    early = make_return("KG", skus=skus, status="approved")  # 2026-03-11 00:30 in Bishkek
    other = make_return("KG", skus=skus)  # 2026-03-12 12:00
    _at(late, datetime(2026, 3, 10, 23, 30, tzinfo=BISHKEK))
    _at(early, datetime(2026, 3, 11, 0, 30, tzinfo=BISHKEK))
    _at(other, datetime(2026, 3, 12, 12, 0, tzinfo=BISHKEK))

    def numbers(query: str) -> list[str]:
        response = client.get(RETURNS + query)
        assert response.status_code == 200, response.json()
        return [row["return_number"] for row in response.json()["results"]]

    n = {made: made.ret.return_number for made in (late, early, other)}
    assert numbers("") == [n[other], n[early], n[late]]  # newest first
    assert numbers("?date_from=2026-03-11&date_to=2026-03-11") == [n[early]]
    assert numbers("?date_from=2026-03-11") == [n[other], n[early]]
    assert numbers("?date_to=2026-03-10") == [n[late]]
    assert numbers("?status=approved") == [n[early]]
    assert numbers("?status=requested&date_to=2026-03-11") == [n[late]]
    assert numbers("?status=refunded") == []

    for query in ("?status=lost", "?date_from=2026-03-12&date_to=2026-03-11", "?date_to=11-03"):
        response = client.get(RETURNS + query)
        assert (response.status_code, response.json()["code"]) == (400, "invalid"), query


def test_the_list_row_has_customer_and_payment(client):
    made = make_return("KG")
    row = client.get(RETURNS).json()["results"][0]
    assert row["customer"]["id"] == made.order.user_id
    assert (row["order_number"], row["payment_status"]) == (made.order.order_number, "paid")
    assert row["items"][0]["order_item_id"] == made.ret.items.get().order_item_id
    assert "status_history" not in row


def test_the_list_costs_the_same_queries_for_one_return_or_many(client, django_assert_num_queries):
    skus = sizes(market="KG", stocks=(80, 80, 80))
    make_return("KG", skus=skus)
    # auth user, store manager, count, page (order, customer joined), lines (order items joined)
    with django_assert_num_queries(5):
        assert client.get(RETURNS).json()["count"] == 1
    for _ in range(4):
        make_return("KG", skus=skus, exchange=True)
    make_return("KG", skus=skus, status="received")
    with django_assert_num_queries(5):
        assert client.get(RETURNS).json()["count"] == 6


def test_the_detail_costs_a_constant_number_of_queries(client, django_assert_num_queries):
    made = make_return("KG", status="received")
    # auth user, store manager, return (order, customer, replacement), lines, images, history
    with django_assert_num_queries(6):
        assert client.get(made.url()).status_code == 200


# --------------------------------------------------------------------------- permissions


def test_a_viewer_reads_returns_but_never_acts_on_them():
    made = make_return("KG", status="received")
    approvable = make_return("KG")
    viewer = client_of(make_manager("viewer", **ALL_FLAGS))
    assert viewer.get(RETURNS).status_code == 200
    assert viewer.get(made.url()).status_code == 200
    assert viewer.get(RATES).status_code == 200
    before = _snapshot(approvable), _snapshot(made)
    for target, action, body in (
        (approvable, "approve", {}),
        (approvable, "reject", {"reason": "no"}),
        (made, "receive", receipt(made.ret)),
        (made, "refund", {"method": "cash"}),
    ):
        response = viewer.post(target.url(action), body)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert (_snapshot(approvable), _snapshot(made)) == before


def test_refunding_needs_can_refund_and_the_rest_can_edit_orders():
    made = make_return("KG", status="received")
    editor = client_of(make_manager("manager", can_view_orders=True, can_edit_orders=True))
    refused = editor.post(made.url("refund"), {"method": "cash"})
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert made.refresh().status == "received"

    refunder = client_of(make_manager("manager", can_refund=True))
    assert refunder.post(made.url("refund"), {"method": "cash"}).status_code == 200
    approvable = make_return("KG")
    assert refunder.post(approvable.url("approve"), {}).status_code == 403
    assert editor.post(approvable.url("approve"), {}).status_code == 200

    reader = client_of(make_manager("manager", can_edit_orders=True))  # no can_view_orders
    assert reader.get(RETURNS).status_code == 403
    assert reader.get(RATES).status_code == 403


# --------------------------------------------------------------------------- return rates


def _rates(client, query: str = "") -> list[dict]:
    response = client.get(RATES + query)
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def _ask(order, sku, quantity, reason):
    return return_request_create(
        user=order.user,
        order_number=order.order_number,
        items=[line(order, sku, quantity, reason)],
    )


def test_the_return_rate_figures_are_exact(client):
    today = timezone.now()
    shirt = sizes(market="KG", stocks=(50, 50, 50))
    dress = sizes(market="KG", stocks=(50, 50, 50), price="4500.00")
    scarf = sizes(market="KG", stocks=(50, 50, 50), price="800.00")
    buyer, other = customer_of("KG"), customer_of("KG")

    # The shirt: 3 + 1 units sold; back: 1 too small, 1 too large; a rejected return
    # of 1 and a cancelled order of 5 do not count.
    first = delivered_order(buyer, (shirt[0], 3))
    second = delivered_order(other, (shirt[1], 1))
    _ask(first, shirt[0], 1, "size_too_small")
    _ask(second, shirt[1], 1, "size_too_large")
    rejected = _ask(first, shirt[0], 1, "changed_mind")
    return_transition(ret=rejected, to_status="rejected", actor=None, note="worn")
    cancelled = delivered_order(buyer, (shirt[2], 5))
    Order.objects.filter(pk=cancelled.pk).update(status="cancelled")
    replacement = delivered_order(buyer, (shirt[2], 7))
    Order.objects.filter(pk=replacement.pk).update(is_replacement=True)
    # The dress: 3 units sold, 1 back as defective (refunded: still returned).
    dress_order = delivered_order(buyer, (dress[1], 3))
    refunded = _ask(dress_order, dress[1], 1, "defective")
    refunded.status = "refunded"
    refunded.save(update_fields=["status"])
    # The scarf: 2 sold, none back.
    delivered_order(other, (scarf[2], 2))
    # Outside the period (40 days ago), and in the other market: not counted.
    old = delivered_order(buyer, (shirt[0], 4))
    _ask(old, shirt[0], 4, "size_too_small")
    Order.objects.filter(pk=old.pk).update(created_at=today - timedelta(days=40))
    make_return("US", price="40.00")

    rows = _rates(client)
    assert [(r["product_id"], r["name"], r["slug"]) for r in rows] == [
        (p[0].product_id, p[0].product.name, p[0].product.slug) for p in (shirt, dress, scarf)
    ]
    assert [
        {k: v for k, v in r.items() if k not in ("product_id", "name", "slug")} for r in rows
    ] == [
        {
            "units_sold": 4,
            "units_returned": 2,
            "return_rate": "0.5000",
            "returned_too_small": 1,
            "returned_too_large": 1,
            "size_share": "1.0000",
        },
        {
            "units_sold": 3,
            "units_returned": 1,
            "return_rate": "0.3333",
            "returned_too_small": 0,
            "returned_too_large": 0,
            "size_share": "0.0000",
        },
        {
            "units_sold": 2,
            "units_returned": 0,
            "return_rate": "0.0000",
            "returned_too_small": 0,
            "returned_too_large": 0,
            "size_share": None,
        },
    ]
    # A range that holds the old order only.
    day = (today - timedelta(days=40)).astimezone(BISHKEK).date()
    old_rows = _rates(client, f"?date_from={day}&date_to={day}")
    assert [(r["units_sold"], r["units_returned"], r["return_rate"]) for r in old_rows] == [
        (4, 4, "1.0000")
    ]


def test_equal_returned_units_put_the_higher_rate_first(client):
    many = sizes(market="KG", stocks=(50, 50, 50))
    few = sizes(market="KG", stocks=(50, 50, 50))
    buyer = customer_of("KG")
    big = delivered_order(buyer, (many[0], 6))
    small = delivered_order(buyer, (few[0], 2))
    _ask(big, many[0], 1, "other")
    _ask(small, few[0], 1, "size_too_large")
    rows = _rates(client)
    assert [(r["product_id"], r["return_rate"], r["size_share"]) for r in rows] == [
        (few[0].product_id, "0.5000", "1.0000"),
        (many[0].product_id, "0.1667", "0.0000"),
    ]


def test_the_default_period_is_the_last_30_market_days(client):
    skus = sizes(market="KG", stocks=(50, 50, 50))
    buyer = customer_of("KG")
    inside, outside = delivered_order(buyer, (skus[0], 1)), delivered_order(buyer, (skus[1], 2))
    today = timezone.now().astimezone(BISHKEK).date()
    first_day = datetime.combine(today - timedelta(days=29), datetime.min.time(), BISHKEK)
    Order.objects.filter(pk=inside.pk).update(created_at=first_day)
    Order.objects.filter(pk=outside.pk).update(created_at=first_day - timedelta(seconds=1))
    assert [r["units_sold"] for r in _rates(client)] == [1]
    assert [r["units_sold"] for r in _rates(client, f"?date_to={today}")] == [1]
    wider = f"?date_from={today - timedelta(days=30)}"
    assert [r["units_sold"] for r in _rates(client, wider)] == [3]
    for query in (f"?date_from={today + timedelta(days=1)}", "?date_from=2026-13-01"):
        response = client.get(RATES + query)
        assert (response.status_code, response.json()["code"]) == (400, "invalid"), query


def test_the_return_rates_cost_the_same_queries_for_one_product_or_many(
    client, django_assert_num_queries
):
    buyer = customer_of("KG")
    skus = sizes(market="KG", stocks=(50, 50, 50))
    order = delivered_order(buyer, (skus[0], 2))
    _ask(order, skus[0], 1, "size_too_small")
    # auth user, store manager, count, page
    with django_assert_num_queries(4):
        assert len(_rates(client)) == 1
    for _ in range(5):
        product = sizes(market="KG", stocks=(50, 50, 50))
        order = delivered_order(buyer, (product[1], 3))
        _ask(order, product[1], 2, "size_too_large")
    with django_assert_num_queries(4):
        assert len(_rates(client)) == 6


def test_the_return_rates_page(client):
    buyer = customer_of("KG")
    for _ in range(3):
        delivered_order(buyer, (sizes(market="KG")[0], 1))
    first = client.get(RATES + "?page_size=2").json()
    assert (first["count"], len(first["results"]), bool(first["next"])) == (3, 2, True)
    last = client.get(RATES + "?page_size=2&page=2").json()
    assert len(last["results"]) == 1
    assert client.get(RATES + "?page=9").status_code == 404


def test_the_activity_log_lists_the_return_actions(client, manager):
    made = make_return("KG")
    assert client.post(made.url("approve"), {}).status_code == 200
    assert client.post(made.url("receive"), receipt(made.ret)).status_code == 200
    response = client.get(BASE + f"activity/?object_type=return&object_id={made.ret.return_number}")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["action"] for row in rows] == ["return_received", "return_approved"]
    assert rows[0]["metadata"]["after"] == {"status": "received"}
    assert rows[0]["manager"]["id"] == manager.pk
    only = client.get(BASE + "activity/?action=return_approved").json()["results"]
    assert [row["object_id"] for row in only] == [made.ret.return_number]
