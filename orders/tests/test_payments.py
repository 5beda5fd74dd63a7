"""Card payments end to end: the real `stripe` library against the fake Stripe server (SPEC §8).

Each test drives the API (or the task a beat would run) and checks what a customer, a
manager or the bank would see: the order's `payment` block and `payment_status`, the
intent at the fake Stripe, the stock.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from conftest import authenticate
from main.exceptions import ApplicationError
from orders.models import Order, Payment, ProviderEvent
from orders.services.payment_events import payments_reconcile
from orders.services.transitions import order_transition
from orders.tasks import expire_unpaid_card_orders, reconcile_payments
from orders.tests.helpers import INLINE_KG, INLINE_US, fill_cart, priced_sku
from products.models import SKU
from users.models import Notification, PaymentMethod
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
WEBHOOK = "/api/v1/payments/stripe/webhook/"


@pytest.fixture
def us_client(api_client, us_customer):
    return authenticate(api_client, us_customer)


def card_checkout(client, user, *, price="120.00", quantity=1, stock=5, sku=None, **extra):
    sku = sku or priced_sku(market="US", price=price, stock=stock)
    fill_cart(user, (sku, quantity))
    body = {"address": INLINE_US, "payment_method": "card", **extra}
    headers = {}
    if "key" in extra:
        headers["HTTP_IDEMPOTENCY_KEY"] = body.pop("key")
    response = client.post(ORDERS, body, format="json", **headers)
    return response, sku


def placed(client, user, **kwargs):
    response, sku = card_checkout(client, user, **kwargs)
    assert response.status_code == 201, response.json()
    order = Order.objects.get(order_number=response.json()["order_number"])
    return order, order.payments.get(), sku


def deliver(client, fake, event_type, obj, *, created=None, event_id=None):
    event = fake.event(event_type, obj, created=created, event_id=event_id)
    body, header = fake.signed(event)
    response = client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    return response, event


def authorize(client, fake, payment, **kwargs):
    intent = fake.confirm(payment.provider_ref, "authorized")
    response, _ = deliver(
        client, fake, "payment_intent.amount_capturable_updated", intent, **kwargs
    )
    assert response.status_code == 200, response.json()
    return intent


def state(order):
    order.refresh_from_db()
    payment = order.live_payment
    return order.status, order.payment_status, payment.status if payment else None


# --------------------------------------------------------------------------- checkout


def test_card_checkout_creates_a_manual_capture_intent_and_holds_the_stock(
    fake_stripe, us_client, us_customer
):
    response, sku = card_checkout(
        us_client, us_customer, price="60.00", quantity=2
    )  # free shipping

    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["status"], data["payment_status"]) == ("pending", "unpaid")
    payment = data["payment"]
    assert payment["provider"] == "stripe"
    assert payment["status"] == "requires_payment_method"
    assert payment["client_secret"].startswith("pi_")
    assert payment["amount"] == data["total"] == "120.00"
    expires = timezone.datetime.fromisoformat(payment["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < expires - timezone.now() <= timedelta(minutes=30)
    assert SKU.objects.get(pk=sku.pk).stock == 3

    intent = fake_stripe.intents[0]
    assert (intent["amount"], intent["currency"], intent["capture_method"]) == (
        12000,
        "usd",
        "manual",
    )
    assert intent["metadata"]["order_number"] == data["order_number"]
    create = next(r for r in fake_stripe.requests if r.path == "/v1/payment_intents")
    assert create.idempotency_key.startswith(f"marque-{data['order_number']}-")


def test_an_idempotent_retry_returns_the_same_order_and_the_same_intent(
    fake_stripe, us_client, us_customer
):
    first, sku = card_checkout(us_client, us_customer, key="checkout-1")
    fill_cart(us_customer, (sku, 1))  # the retry finds the cart as the first request left it
    retry = us_client.post(
        ORDERS,
        {"address": INLINE_US, "payment_method": "card"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="checkout-1",
    )

    assert retry.status_code == 201
    assert retry.json()["order_number"] == first.json()["order_number"]
    assert retry.json()["payment"]["client_secret"] == first.json()["payment"]["client_secret"]
    assert len(fake_stripe.intents) == 1
    assert Order.objects.count() == 1


def test_a_provider_outage_at_checkout_keeps_the_order_and_the_customer_can_retry(
    fake_stripe, us_client, us_customer
):
    fake_stripe.fail_next("POST", "/v1/payment_intents", "server_error")
    response, sku = card_checkout(us_client, us_customer)

    assert response.status_code == 201
    data = response.json()
    assert data["payment"]["last_error"] == "provider_unavailable"
    assert data["payment"]["client_secret"] is None
    assert SKU.objects.get(pk=sku.pk).stock == 4  # held until the hold expires

    number = data["order_number"]
    fake_stripe.fail_next("POST", "/v1/payment_intents", "server_error")
    down = us_client.post(f"{ORDERS}{number}/payment/")
    assert (down.status_code, down.json()["code"]) == (503, "payment_provider_unavailable")
    assert down.headers["Retry-After"]

    again = us_client.post(f"{ORDERS}{number}/payment/")
    assert again.status_code == 200
    assert again.json()["payment"]["client_secret"].startswith("pi_")
    assert again.json()["payment"]["last_error"] == ""
    assert len(fake_stripe.intents) == 1


def test_card_is_refused_where_the_market_does_not_offer_it(fake_stripe, customer_client, customer):
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 1))
    response = customer_client.post(
        ORDERS, {"address": INLINE_KG, "payment_method": "card"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "payment_method_unavailable")
    assert response.json()["payment_methods"] == ["cash_on_delivery"]
    assert not Order.objects.exists()
    assert SKU.objects.get(pk=sku.pk).stock == 5
    assert fake_stripe.intents == []


def test_card_is_not_offered_without_stripe_keys(us_client, us_customer):
    response, sku = card_checkout(us_client, us_customer)
    assert (response.status_code, response.json()["code"]) == (400, "payment_method_unavailable")
    assert SKU.objects.get(pk=sku.pk).stock == 5


def test_a_saved_card_goes_to_the_intent_and_someone_elses_is_404(
    fake_stripe, us_client, us_customer
):
    mine = PaymentMethod.objects.create(
        user=us_customer, provider="stripe", provider_token="pm_mine", last4="4242",
        exp_month=12, exp_year=2030,
    )  # fmt: skip
    stranger = UserFactory(phone="+12025550199")
    theirs = PaymentMethod.objects.create(
        user=stranger, provider="stripe", provider_token="pm_theirs", last4="0005",
        exp_month=1, exp_year=2031,
    )  # fmt: skip

    refused, sku = card_checkout(us_client, us_customer, payment_method_id=theirs.pk)
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    assert not Order.objects.exists()
    assert SKU.objects.get(pk=sku.pk).stock == 5

    response = us_client.post(
        ORDERS,
        {"address": INLINE_US, "payment_method": "card", "payment_method_id": mine.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    intent = fake_stripe.intents[0]
    assert intent["payment_method"] == "pm_mine"
    assert response.json()["payment"]["status"] == "requires_confirmation"


# --------------------------------------------------------------------------- webhook


def test_the_webhook_authorises_once_and_a_replay_changes_nothing(
    fake_stripe, us_client, us_customer
):
    order, payment, _ = placed(us_client, us_customer)
    intent = fake_stripe.confirm(payment.provider_ref, "authorized")
    response, event = deliver(
        us_client, fake_stripe, "payment_intent.amount_capturable_updated", intent
    )

    assert (response.status_code, response.json()) == (200, {"result": "applied"})
    assert state(order) == ("pending", "authorized", "requires_capture")
    payment.refresh_from_db()
    assert payment.amount_authorized == Decimal("120.00")

    body, header = fake_stripe.signed(event)
    replay = us_client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert (replay.status_code, replay.json()) == (200, {"result": "replayed"})
    assert ProviderEvent.objects.filter(event_id=event["id"]).count() == 1


@pytest.mark.parametrize("forgery", ["missing", "wrong_secret", "stale", "tampered"])
def test_a_bad_signature_is_400_and_changes_nothing(fake_stripe, us_client, us_customer, forgery):
    order, payment, _ = placed(us_client, us_customer)
    intent = fake_stripe.confirm(payment.provider_ref, "authorized")
    event = fake_stripe.event("payment_intent.amount_capturable_updated", intent)
    if forgery == "wrong_secret":
        body, header = fake_stripe.signed(event, secret="whsec_not_ours")
    elif forgery == "stale":
        body, header = fake_stripe.signed(event, timestamp=int(time.time()) - 600)
    else:
        body, header = fake_stripe.signed(event)
    if forgery == "tampered":
        forged = body.replace(b"12000", b"1")
        assert forged != body
        body = forged
    extra = {} if forgery == "missing" else {"HTTP_STRIPE_SIGNATURE": header}
    response = us_client.post(WEBHOOK, data=body, content_type="application/json", **extra)

    assert (response.status_code, response.json()["code"]) == (400, "signature_invalid")
    assert state(order) == ("pending", "unpaid", "requires_payment_method")
    assert not ProviderEvent.objects.exists()


def test_unknown_event_types_are_ignored_and_unknown_payments_are_404(
    fake_stripe, us_client, us_customer
):
    order, payment, _ = placed(us_client, us_customer)
    ignored, _ = deliver(
        us_client, fake_stripe, "customer.created", {"id": "cus_1", "object": "customer"}
    )
    assert (ignored.status_code, ignored.json()) == (200, {"result": "ignored"})

    stranger = dict(fake_stripe.intent(payment.provider_ref), id="pi_not_ours", metadata={})
    unknown, _ = deliver(us_client, fake_stripe, "payment_intent.succeeded", stranger)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert state(order) == ("pending", "unpaid", "requires_payment_method")


def test_events_out_of_order_keep_the_newest_state(fake_stripe, us_client, us_customer):
    order, payment, _ = placed(us_client, us_customer)
    declined = fake_stripe.confirm(payment.provider_ref, "declined")
    authorized = fake_stripe.confirm(payment.provider_ref, "authorized")
    now = int(time.time())

    deliver(
        us_client, fake_stripe, "payment_intent.amount_capturable_updated", authorized, created=now
    )
    late, _ = deliver(
        us_client, fake_stripe, "payment_intent.payment_failed", declined, created=now - 5
    )

    assert late.status_code == 200
    assert state(order) == ("pending", "authorized", "requires_capture")


def test_an_older_step_arriving_after_a_decline_does_not_hide_the_decline(
    fake_stripe, us_client, us_customer
):
    order, payment, _ = placed(us_client, us_customer)
    challenged = fake_stripe.confirm(payment.provider_ref, "requires_action")  # 3-D Secure
    declined = fake_stripe.confirm(payment.provider_ref, "declined")
    now = int(time.time())

    deliver(us_client, fake_stripe, "payment_intent.payment_failed", declined, created=now)
    deliver(us_client, fake_stripe, "payment_intent.requires_action", challenged, created=now - 3)

    assert state(order) == ("pending", "failed", "requires_payment_method")


def test_a_declined_card_is_failed_and_may_be_retried(fake_stripe, us_client, us_customer):
    order, payment, _ = placed(us_client, us_customer)
    declined = fake_stripe.confirm(payment.provider_ref, "declined")
    deliver(us_client, fake_stripe, "payment_intent.payment_failed", declined)
    assert state(order) == ("pending", "failed", "requires_payment_method")
    detail = us_client.get(f"{ORDERS}{order.order_number}/").json()
    assert detail["payment"]["last_error"] == "generic_decline"
    assert detail["payment"]["client_secret"]  # the customer tries another card

    authorize(us_client, fake_stripe, payment)
    assert state(order) == ("pending", "authorized", "requires_capture")


# --------------------------------------------------------------------------- lifecycle


def test_capture_happens_when_the_order_ships(fake_stripe, us_client, us_customer):
    order, payment, _ = placed(us_client, us_customer)
    authorize(us_client, fake_stripe, payment)
    for status in ("confirmed", "processing"):
        order_transition(order=order, to_status=status, actor=None, by_manager=True)
    assert fake_stripe.intent(payment.provider_ref)["status"] == "requires_capture"

    order_transition(order=order, to_status="shipped", actor=None, by_manager=True)

    assert state(order) == ("shipped", "paid", "succeeded")
    assert fake_stripe.intent(payment.provider_ref)["amount_received"] == 12000
    detail = us_client.get(f"{ORDERS}{order.order_number}/").json()["payment"]
    assert (detail["amount_captured"], detail["client_secret"]) == ("120.00", None)


@pytest.mark.parametrize("target", ["confirmed", "cancelled_by_stripe"])
def test_a_card_order_leaves_pending_only_with_its_money_held(
    fake_stripe, us_client, us_customer, target
):
    order, payment, _ = placed(us_client, us_customer)
    if target == "cancelled_by_stripe":  # authorised, then Stripe let the authorisation lapse
        authorize(us_client, fake_stripe, payment)
        lapsed = dict(fake_stripe.intent(payment.provider_ref), status="canceled")
        deliver(us_client, fake_stripe, "payment_intent.canceled", lapsed)
        # A new payment waits for the customer, under a new hold that expires like any.
        assert state(order) == ("pending", "unpaid", "requires_payment_method")
        assert order.live_payment.expires_at > timezone.now() + timedelta(minutes=29)
    with pytest.raises(ApplicationError) as refused:
        order_transition(order=order, to_status="confirmed", actor=None, by_manager=True)
    assert refused.value.code == "payment_required"
    assert order.status_history.filter(to_status="confirmed").count() == 0

    # The customer pays again: a new payment, a new intent.
    again = us_client.post(f"{ORDERS}{order.order_number}/payment/")
    assert again.status_code == 200
    live = Order.objects.get(pk=order.pk).live_payment
    assert (live.pk == payment.pk) == (target == "confirmed")
    assert again.json()["payment"]["client_secret"] == live.client_secret
    authorize(us_client, fake_stripe, live)
    order_transition(order=order, to_status="confirmed", actor=None, by_manager=True)
    assert state(order) == ("confirmed", "authorized", "requires_capture")


def test_a_saved_card_the_provider_refuses_can_be_replaced(fake_stripe, us_client, us_customer):
    card = PaymentMethod.objects.create(
        user=us_customer, provider="stripe", provider_token="pm_gone", last4="4242",
        exp_month=12, exp_year=2030,
    )  # fmt: skip
    fake_stripe.fail_next("POST", "/v1/payment_intents", "card_declined")
    response, _ = card_checkout(us_client, us_customer, payment_method_id=card.pk)
    assert response.status_code == 201
    assert response.json()["payment"]["last_error"] == "payment_refused"
    assert response.json()["payment_status"] == "unpaid"

    number = response.json()["order_number"]
    again = us_client.post(f"{ORDERS}{number}/payment/", {}, format="json").json()
    assert again["payment"]["client_secret"].startswith("pi_")
    assert again["payment"]["last_error"] == ""
    order = Order.objects.get(order_number=number)
    assert order.payments.filter(status="canceled").count() == 1
    assert fake_stripe.intents[-1]["payment_method"] is None


def test_a_capture_the_provider_cannot_take_leaves_the_order_unshipped(
    fake_stripe, us_client, us_customer
):
    order, payment, _ = placed(us_client, us_customer)
    authorize(us_client, fake_stripe, payment)
    for status in ("confirmed", "processing"):
        order_transition(order=order, to_status=status, actor=None, by_manager=True)
    fake_stripe.fail_next("POST", f"/v1/payment_intents/{payment.provider_ref}/capture", "timeout")
    fake_stripe.timeout_sleep = 3
    with pytest.raises(ApplicationError) as down:
        order_transition(order=order, to_status="shipped", actor=None, by_manager=True)
    assert down.value.code == "payment_provider_unavailable"
    assert state(order) == ("processing", "authorized", "requires_capture")
    assert order.status_history.filter(to_status="shipped").count() == 0


def test_cancelling_an_authorised_order_voids_it_and_returns_the_stock(
    fake_stripe, us_client, us_customer
):
    order, payment, sku = placed(us_client, us_customer)
    authorize(us_client, fake_stripe, payment)

    response = us_client.post(f"{ORDERS}{order.order_number}/cancel/", {"reason": "changed mind"})

    assert response.status_code == 200
    assert response.json()["payment_status"] == "voided"
    assert state(order) == ("cancelled", "voided", "canceled")
    assert fake_stripe.intent(payment.provider_ref)["status"] == "canceled"
    assert SKU.objects.get(pk=sku.pk).stock == 5


def test_a_void_the_provider_cannot_make_leaves_the_order_as_it_was(
    fake_stripe, us_client, us_customer
):
    order, payment, sku = placed(us_client, us_customer)
    authorize(us_client, fake_stripe, payment)
    fake_stripe.fail_next(
        "POST", f"/v1/payment_intents/{payment.provider_ref}/cancel", "server_error"
    )

    response = us_client.post(f"{ORDERS}{order.order_number}/cancel/")

    assert (response.status_code, response.json()["code"]) == (503, "payment_provider_unavailable")
    assert state(order) == ("pending", "authorized", "requires_capture")
    assert SKU.objects.get(pk=sku.pk).stock == 4


def test_a_resumed_card_order_gets_a_new_payment(fake_stripe, us_client, us_customer):
    order, first, _ = placed(us_client, us_customer)
    us_client.post(f"{ORDERS}{order.order_number}/cancel/")
    order_transition(order=order, to_status="pending", actor=None, by_manager=True)

    second = order.payments.exclude(pk=first.pk).get()
    assert (second.status, second.provider_ref) == ("requires_payment_method", "")
    assert second.expires_at > timezone.now() + timedelta(minutes=29)
    again = us_client.post(f"{ORDERS}{order.order_number}/payment/").json()
    assert again["payment"]["client_secret"].startswith("pi_")
    assert len(fake_stripe.intents) == 2
    assert fake_stripe.intent(first.provider_ref)["status"] == "canceled"


# --------------------------------------------------------------------------- hold expiry


def _age(payment, minutes=31):
    Payment.objects.filter(pk=payment.pk).update(
        expires_at=timezone.now() - timedelta(minutes=minutes - 30)
    )


def test_an_unpaid_card_order_expires_returns_its_stock_and_tells_the_customer(
    fake_stripe, us_client, us_customer, django_capture_on_commit_callbacks
):
    order, payment, sku = placed(us_client, us_customer)
    _age(payment)

    with django_capture_on_commit_callbacks(execute=True):
        assert expire_unpaid_card_orders() == 1

    assert state(order) == ("cancelled", "unpaid", "canceled")
    assert order.cancel_reason == "payment_expired"
    assert SKU.objects.get(pk=sku.pk).stock == 5
    assert fake_stripe.intent(payment.provider_ref)["status"] == "canceled"
    note = Notification.objects.filter(user=us_customer, data__status="cancelled").get()
    assert "did not arrive in time" in note.body
    assert expire_unpaid_card_orders() == 0  # nothing left: idempotent


def test_an_authorisation_whose_webhook_is_late_is_found_instead_of_expiring(
    fake_stripe, us_client, us_customer
):
    order, payment, sku = placed(us_client, us_customer)
    fake_stripe.confirm(payment.provider_ref, "authorized")  # the webhook never came
    _age(payment)

    assert expire_unpaid_card_orders() == 0
    assert state(order) == ("pending", "authorized", "requires_capture")
    assert SKU.objects.get(pk=sku.pk).stock == 4


def _expired_with_provider_down(fake, client, user, **kwargs):
    order, payment, sku = placed(client, user, **kwargs)
    _age(payment)
    fake.fail_next("GET", f"/v1/payment_intents/{payment.provider_ref}", "server_error")
    fake.fail_next("POST", f"/v1/payment_intents/{payment.provider_ref}/cancel", "server_error")
    assert expire_unpaid_card_orders() == 1
    assert state(order) == ("cancelled", "unpaid", "requires_payment_method")
    return order, payment, sku


def test_a_late_authorisation_brings_an_expired_order_back_when_stock_allows(
    fake_stripe, us_client, us_customer
):
    order, payment, sku = _expired_with_provider_down(fake_stripe, us_client, us_customer)
    assert SKU.objects.get(pk=sku.pk).stock == 5

    authorize(us_client, fake_stripe, payment)

    assert state(order) == ("pending", "authorized", "requires_capture")
    assert SKU.objects.get(pk=sku.pk).stock == 4
    assert order.status_history.filter(from_status="cancelled", to_status="pending").count() == 1


def test_a_late_authorisation_without_stock_is_voided(fake_stripe, us_client, us_customer):
    order, payment, sku = _expired_with_provider_down(fake_stripe, us_client, us_customer, stock=1)
    SKU.objects.filter(pk=sku.pk).update(stock=0)  # sold to someone else meanwhile

    authorize(us_client, fake_stripe, payment)

    assert state(order) == ("cancelled", "voided", "canceled")
    assert fake_stripe.intent(payment.provider_ref)["status"] == "canceled"
    assert SKU.objects.get(pk=sku.pk).stock == 0


def test_an_authorisation_for_an_order_the_customer_cancelled_is_voided(
    fake_stripe, us_client, us_customer
):
    order, payment, sku = placed(us_client, us_customer)
    fake_stripe.fail_next(
        "POST", f"/v1/payment_intents/{payment.provider_ref}/cancel", "server_error"
    )
    us_client.post(f"{ORDERS}{order.order_number}/cancel/")
    assert state(order) == ("cancelled", "unpaid", "requires_payment_method")

    authorize(us_client, fake_stripe, payment)

    assert state(order) == ("cancelled", "voided", "canceled")
    assert SKU.objects.get(pk=sku.pk).stock == 5


# --------------------------------------------------------------------------- reconciliation


def test_reconciliation_heals_a_lost_webhook(fake_stripe, us_client, us_customer):
    order, payment, _ = placed(us_client, us_customer)
    fake_stripe.confirm(payment.provider_ref, "authorized")  # its webhook was lost
    assert reconcile_payments() == {"checked": 0, "moved": 0}  # not overdue yet

    Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    assert reconcile_payments() == {"checked": 1, "moved": 1}
    assert state(order) == ("pending", "authorized", "requires_capture")
    assert reconcile_payments() == {"checked": 0, "moved": 0}


def test_reconciliation_voids_money_held_for_a_cancelled_order(fake_stripe, us_client, us_customer):
    order, payment, _ = placed(us_client, us_customer)
    fake_stripe.fail_next(
        "POST", f"/v1/payment_intents/{payment.provider_ref}/cancel", "server_error"
    )
    us_client.post(f"{ORDERS}{order.order_number}/cancel/")
    fake_stripe.confirm(payment.provider_ref, "authorized")  # and its webhook was lost

    assert payments_reconcile()["checked"] == 1

    assert state(order) == ("cancelled", "voided", "canceled")
    assert fake_stripe.intent(payment.provider_ref)["status"] == "canceled"


def test_the_reconcile_command_checks_a_date_range(fake_stripe, us_client, us_customer, capsys):
    order, payment, _ = placed(us_client, us_customer)
    fake_stripe.confirm(payment.provider_ref, "authorized")
    day = timezone.now().date()

    call_command(
        "reconcile_payments",
        "--from",
        str(day - timedelta(days=2)),
        "--to",
        str(day - timedelta(days=1)),
    )
    assert "Checked 0 payment(s)" in capsys.readouterr().out
    call_command("reconcile_payments", "--from", str(day), "--to", str(day))
    assert "Checked 1 payment(s) with the provider; 1 changed status." in capsys.readouterr().out
    assert state(order) == ("pending", "authorized", "requires_capture")


def test_the_customer_sees_only_its_own_payment_block(fake_stripe, us_client, us_customer):
    order, _, _ = placed(us_client, us_customer)
    stranger = authenticate(type(us_client)(), UserFactory(phone="+12025550177"))
    assert stranger.get(f"{ORDERS}{order.order_number}/").status_code == 404
    assert stranger.post(f"{ORDERS}{order.order_number}/payment/").status_code == 404
    body = json.dumps(us_client.get(f"{ORDERS}{order.order_number}/").json())
    assert "client_secret" in body


# --------------------------------------------------------------------------- hardening


@pytest.mark.parametrize(
    "spoil",
    [
        {"amount": "abc"},
        {"amount": 10**30},
        {"amount_received": -5},
        {"currency": "eur"},
        {"id": "pi_" + "x" * 300},
        {"status": ["requires_capture"]},
        {"metadata": "not a dict"},
    ],
    ids=lambda spoil: next(iter(spoil)),
)
def test_a_signed_but_unreadable_intent_is_400_and_changes_nothing(
    fake_stripe, us_client, us_customer, spoil
):
    order, payment, _ = placed(us_client, us_customer)
    intent = dict(fake_stripe.confirm(payment.provider_ref, "authorized"), **spoil)
    response, _ = deliver(us_client, fake_stripe, "payment_intent.succeeded", intent)
    assert (response.status_code, response.json()["code"]) == (400, "event_invalid")
    assert state(order) == ("pending", "unpaid", "requires_payment_method")
    assert not ProviderEvent.objects.exists()


@pytest.mark.parametrize(
    "spoil",
    [
        {"created": 10**20},
        {"created": "soon"},
        {"id": "e" * 300},
        {"type": "t" * 200},
        {"data": []},
    ],
    ids=lambda spoil: next(iter(spoil)),
)
def test_a_signed_but_unreadable_event_is_400(fake_stripe, us_client, us_customer, spoil):
    order, payment, _ = placed(us_client, us_customer)
    intent = fake_stripe.confirm(payment.provider_ref, "authorized")
    event = fake_stripe.event("payment_intent.amount_capturable_updated", intent) | spoil
    body, header = fake_stripe.signed(event)
    response = us_client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert (response.status_code, response.json()["code"]) == (400, "event_invalid")
    assert state(order) == ("pending", "unpaid", "requires_payment_method")


def test_a_customer_typing_the_expiry_note_cannot_bring_an_order_back(
    fake_stripe, us_client, us_customer
):
    order, payment, sku = placed(us_client, us_customer)
    fake_stripe.fail_next(
        "POST", f"/v1/payment_intents/{payment.provider_ref}/cancel", "server_error"
    )
    us_client.post(f"{ORDERS}{order.order_number}/cancel/", {"reason": "payment_expired"})

    authorize(us_client, fake_stripe, payment)

    assert state(order) == ("cancelled", "voided", "canceled")  # voided, not resumed
    assert SKU.objects.get(pk=sku.pk).stock == 5


def test_a_partial_authorisation_does_not_let_the_order_leave_pending(
    fake_stripe, us_client, us_customer
):
    order, payment, _ = placed(us_client, us_customer)
    short = dict(fake_stripe.confirm(payment.provider_ref, "authorized"), amount_capturable=100)
    deliver(us_client, fake_stripe, "payment_intent.amount_capturable_updated", short)

    assert state(order) == ("pending", "unpaid", "requires_capture")
    with pytest.raises(ApplicationError) as refused:
        order_transition(order=order, to_status="confirmed", actor=None, by_manager=True)
    assert refused.value.code == "payment_required"


def test_a_late_event_about_a_replaced_payment_leaves_the_order_alone(
    fake_stripe, us_client, us_customer
):
    order, first, _ = placed(us_client, us_customer)
    us_client.post(f"{ORDERS}{order.order_number}/cancel/")
    order_transition(order=order, to_status="pending", actor=None, by_manager=True)
    us_client.post(f"{ORDERS}{order.order_number}/payment/")
    second = order.payments.exclude(pk=first.pk).get()
    authorize(us_client, fake_stripe, second)

    deliver(
        us_client, fake_stripe, "payment_intent.canceled", fake_stripe.intent(first.provider_ref)
    )

    assert state(order) == ("pending", "authorized", "requires_capture")


def _ship_then_roll_back(order):
    with transaction.atomic():
        order_transition(order=order, to_status="shipped", actor=None, by_manager=True)
        raise ApplicationError("a later order in the bulk change was refused")


def test_a_capture_whose_change_rolled_back_is_found_and_refunded_on_cancel(
    fake_stripe, us_client, us_customer
):
    order, payment, sku = placed(us_client, us_customer)
    authorize(us_client, fake_stripe, payment)
    for status in ("confirmed", "processing"):
        order_transition(order=order, to_status=status, actor=None, by_manager=True)
    # A bulk change captured it at Stripe, then failed on another order and rolled back.
    with pytest.raises(ApplicationError):
        _ship_then_roll_back(order)
    assert state(order) == ("processing", "authorized", "requires_capture")
    assert fake_stripe.intent(payment.provider_ref)["status"] == "succeeded"

    order_transition(order=order, to_status="cancelled", actor=None, by_manager=True)

    assert state(order) == ("cancelled", "refunded", "succeeded")
    assert fake_stripe.refunded(payment.provider_ref) == 12000
    assert SKU.objects.get(pk=sku.pk).stock == 5


def test_reconciliation_finds_a_capture_whose_change_rolled_back(
    fake_stripe, us_client, us_customer
):
    order, payment, _ = placed(us_client, us_customer)
    authorize(us_client, fake_stripe, payment)
    for status in ("confirmed", "processing"):
        order_transition(order=order, to_status=status, actor=None, by_manager=True)
    with pytest.raises(ApplicationError):
        _ship_then_roll_back(order)
    Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(minutes=11))

    assert reconcile_payments() == {"checked": 1, "moved": 1}
    assert state(order) == ("processing", "paid", "succeeded")
    order_transition(order=order, to_status="shipped", actor=None, by_manager=True)
    assert state(order) == ("shipped", "paid", "succeeded")


def test_a_confirmed_order_whose_authorisation_lapsed_can_be_paid_again(
    fake_stripe, us_client, us_customer
):
    order, payment, _ = placed(us_client, us_customer)
    authorize(us_client, fake_stripe, payment)
    order_transition(order=order, to_status="confirmed", actor=None, by_manager=True)
    lapsed = dict(fake_stripe.intent(payment.provider_ref), status="canceled")
    deliver(us_client, fake_stripe, "payment_intent.canceled", lapsed)
    assert state(order) == ("confirmed", "unpaid", "requires_payment_method")

    again = us_client.post(f"{ORDERS}{order.order_number}/payment/")
    assert again.status_code == 200
    assert again.json()["payment"]["client_secret"].startswith("pi_")
    authorize(us_client, fake_stripe, Order.objects.get(pk=order.pk).live_payment)
    order_transition(order=order, to_status="processing", actor=None, by_manager=True)
    assert state(order) == ("processing", "authorized", "requires_capture")


def test_a_cash_order_cancelled_and_resumed_keeps_one_live_payment_and_logs_no_error(
    customer, customer_client, caplog
):
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 1))
    number = customer_client.post(
        ORDERS, {"address": INLINE_KG, "payment_method": "cash_on_delivery"}, format="json"
    ).json()["order_number"]
    order = Order.objects.get(order_number=number)
    with caplog.at_level("ERROR", logger="marque.payments"):
        customer_client.post(f"{ORDERS}{number}/cancel/")
        order_transition(order=order, to_status="pending", actor=None, by_manager=True)
    # (Each request also writes its access line, at INFO, under marque.request.)
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert state(order) == ("pending", "unpaid", "due_on_delivery")
    assert list(order.payments.values_list("status", flat=True).order_by("id")) == [
        "canceled",
        "due_on_delivery",
    ]
