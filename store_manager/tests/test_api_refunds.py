"""manager/orders/{order_number}/refund/: partial and full, card and cash, never more than paid."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import Order, Payment, Refund
from orders.services.payment_events import payment_reconcile
from orders.services.transitions import order_transition
from orders.tests.helpers import checkout, fill_cart, priced_sku
from store_manager.models import ManagerActivityLog
from store_manager.services import orders as manager_orders
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    customer_of,
    make_manager,
    order_in,
)
from users.models import Notification

pytestmark = pytest.mark.django_db

URL = BASE + "orders/{}/refund/"


@pytest.fixture
def us_manager():
    return make_manager("manager", market="US", **ALL_FLAGS)


def shipped_card_order(fake) -> Order:
    """A US card order, authorised at the (fake) bank and captured when it shipped: $120."""
    buyer = customer_of("US")
    fill_cart(buyer, (priced_sku(market="US", price="120.00", stock=5), 1))
    order = checkout(buyer, payment_method="card").order
    payment = order.payments.get()
    fake.confirm(payment.provider_ref, "authorized")
    payment_reconcile(payment.pk)  # what the webhook would have applied
    for status in ("confirmed", "processing", "shipped"):
        order_transition(order=order, to_status=status, actor=None, by_manager=True)
    order.refresh_from_db()
    assert order.payment_status == "paid"
    return order


def delivered_cash_order() -> Order:
    order = order_in("KG", total="2580.00")
    Payment.objects.create(
        order=order,
        provider="cash_on_delivery",
        status="succeeded",
        amount=order.total,
        amount_authorized=order.total,
        amount_captured=order.total,
    )
    Order.objects.filter(pk=order.pk).update(status="delivered", payment_status="paid")
    return order


def test_a_card_is_refunded_in_part_then_in_full_through_stripe(
    fake_stripe, us_manager, django_capture_on_commit_callbacks
):
    order = shipped_card_order(fake_stripe)
    client = client_of(us_manager)

    with django_capture_on_commit_callbacks(execute=True):
        partial = client.post(URL.format(order.order_number), {"amount": "20.00", "reason": "late"})
    assert partial.status_code == 200, partial.json()
    body = partial.json()
    assert body["payment_status"] == "partially_refunded"
    assert body["payment"]["amount_refunded"] == "20.00"
    assert [r["amount"] for r in body["payment"]["refunds"]] == ["20.00"]
    assert "client_secret" not in body["payment"]  # managers never see it
    pi = order.payments.get().provider_ref
    assert fake_stripe.refunded(pi) == 2000

    with django_capture_on_commit_callbacks(execute=True):
        rest = client.post(URL.format(order.order_number), {"reason": "returned"})
    assert rest.json()["payment_status"] == "refunded"
    assert rest.json()["payment"]["amount_refunded"] == "120.00"
    assert fake_stripe.refunded(pi) == 12000
    keys = [r.idempotency_key for r in fake_stripe.requests if r.path == "/v1/refunds"]
    assert len(set(keys)) == 2
    assert all(key.startswith(f"marque-{order.order_number}-") for key in keys)

    logs = ManagerActivityLog.objects.filter(action="order_refunded", object_id=order.order_number)
    assert logs.count() == 2
    notes = Notification.objects.filter(user=order.user, type="payment")
    assert sorted(n.data["amount"] for n in notes) == ["100.00", "20.00"]

    again = client.post(URL.format(order.order_number), {})
    assert (again.status_code, again.json()["code"]) == (409, "not_refundable")


def test_more_than_what_is_left_is_400_and_changes_nothing(fake_stripe, us_manager):
    order = shipped_card_order(fake_stripe)
    response = client_of(us_manager).post(URL.format(order.order_number), {"amount": "120.01"})
    assert (response.status_code, response.json()["code"]) == (400, "refund_exceeds_paid")
    assert response.json()["refundable"] == "120.00"
    assert not Refund.objects.exists()
    assert fake_stripe.refunds == []
    assert Order.objects.get(pk=order.pk).payment_status == "paid"


def test_a_refund_stripe_cannot_make_is_503_and_changes_nothing(fake_stripe, us_manager):
    order = shipped_card_order(fake_stripe)
    fake_stripe.fail_next("POST", "/v1/refunds", "server_error")
    response = client_of(us_manager).post(URL.format(order.order_number), {"amount": "5.00"})
    assert (response.status_code, response.json()["code"]) == (503, "payment_provider_unavailable")
    assert not Refund.objects.exists()
    assert not ManagerActivityLog.objects.filter(action="order_refunded").exists()


def test_an_unpaid_order_is_not_refundable():
    manager = make_manager("manager", **ALL_FLAGS)
    order = order_in("KG")  # pending, nothing collected
    response = client_of(manager).post(URL.format(order.order_number), {"amount": "10.00"})
    assert (response.status_code, response.json()["code"]) == (409, "not_refundable")
    assert not Refund.objects.exists()


def test_cash_on_delivery_is_refunded_in_cash_or_by_bank_transfer():
    manager = make_manager("manager", **ALL_FLAGS)
    order = delivered_cash_order()
    client = client_of(manager)

    card = client.post(URL.format(order.order_number), {"amount": "100.00", "method": "card"})
    assert (card.status_code, card.json()["code"]) == (400, "invalid")
    assert "method" in card.json()["errors"]

    response = client.post(
        URL.format(order.order_number), {"amount": "580.00", "method": "bank_transfer"}
    )
    assert response.status_code == 200, response.json()
    refund = Refund.objects.get()
    assert (refund.method, refund.amount, refund.created_by) == (
        "bank_transfer",
        Decimal("580.00"),
        manager.user,
    )
    assert response.json()["payment_status"] == "partially_refunded"
    assert response.json()["payment"]["amount_refunded"] == "580.00"


def test_another_markets_order_is_404(fake_stripe):
    kg_manager = make_manager("manager", **ALL_FLAGS)
    order = shipped_card_order(fake_stripe)
    response = client_of(kg_manager).post(URL.format(order.order_number), {"amount": "1.00"})
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert fake_stripe.refunds == []


def test_a_manager_without_can_refund_is_refused():
    manager = make_manager("manager", **{**ALL_FLAGS, "can_refund": False})
    order = delivered_cash_order()
    response = client_of(manager).post(URL.format(order.order_number), {"amount": "1.00"})
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert not Refund.objects.exists()


def test_a_refund_whose_record_rolled_back_neither_blocks_the_next_nor_gets_lost(
    fake_stripe, us_manager, monkeypatch
):
    order = shipped_card_order(fake_stripe)
    client = client_of(us_manager)

    def broken(**kwargs):
        raise RuntimeError("the database went away after Stripe refunded")

    with monkeypatch.context() as patch:
        patch.setattr(manager_orders, "activity_log_write", broken)
        lost = client.post(URL.format(order.order_number), {"amount": "20.00"})
    assert lost.status_code == 500
    assert not Refund.objects.exists()  # rolled back, though Stripe refunded $20

    # The next refund is a different refund: a different key, no idempotency conflict.
    response = client.post(URL.format(order.order_number), {"amount": "30.00"})
    assert response.status_code == 200, response.json()
    pi = order.payments.get().provider_ref
    assert fake_stripe.refunded(pi) == 5000

    # Stripe's refund.created event for the lost one records it: the books match the bank.
    lost_refund = next(r for r in fake_stripe.refunds if r["amount"] == 2000)
    event = fake_stripe.event("refund.created", lost_refund)
    body, header = fake_stripe.signed(event)
    applied = client.post(
        "/api/v1/payments/stripe/webhook/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert applied.json() == {"result": "applied"}
    payment = order.payments.get()
    assert payment.amount_refunded == Decimal("50.00")
    assert sorted(r.amount for r in payment.refunds.all()) == [Decimal("20.00"), Decimal("30.00")]
