"""The fake Stripe server, driven by the real `stripe` library over HTTP (no database)."""

import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import stripe
from django.conf import settings

from main.testing import free_port
from orders.payments.fake_stripe import FakeStripe, FakeStripeError

ROOT = Path(__file__).resolve().parents[2]


def client_for(base_url: str, key: str = "sk_test_fake") -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": base_url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=1),
    )


@pytest.fixture
def client(fake_stripe) -> stripe.StripeClient:
    return client_for(fake_stripe.base_url, fake_stripe.secret_key)


def create_intent(client: stripe.StripeClient, amount: int = 5000, **params):
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "capture_method": "manual",
            "metadata": {"order_number": "KG-1"},
            **params,
        }
    )


def captured_intent(client, fake, amount: int = 5000):
    intent = create_intent(client, amount)
    fake.confirm(intent.id, "authorized")
    return client.v1.payment_intents.capture(intent.id)


def raw_post(fake: FakeStripe, path: str, data: dict, headers: dict | None = None):
    """`(status, body)` of a form POST made without the stripe library."""
    request = urllib.request.Request(  # noqa: S310 - the fake's loopback URL
        fake.base_url + path,
        data=urllib.parse.urlencode(data).encode(),
        headers=headers or {},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_fixture_points_the_stripe_settings_at_the_server(fake_stripe):
    assert fake_stripe.base_url == settings.STRIPE_API_BASE
    assert fake_stripe.base_url.startswith("http://127.0.0.1:")
    assert settings.STRIPE_SECRET_KEY == fake_stripe.secret_key == "sk_test_fake"
    assert settings.STRIPE_PUBLISHABLE_KEY == "pk_test_fake"
    assert settings.STRIPE_WEBHOOK_SECRET == fake_stripe.webhook_secret == "whsec_fake"
    assert fake_stripe.intents == fake_stripe.requests == fake_stripe.refunds == []


def test_create_and_retrieve_a_payment_intent(client, fake_stripe):
    created = create_intent(client, description="MARQUE order KG-1")

    assert isinstance(created, stripe.PaymentIntent)
    assert created.id.startswith("pi_")
    assert created.client_secret.startswith(f"{created.id}_secret_")
    assert (created.amount, created.currency, created.capture_method) == (5000, "usd", "manual")
    assert (created.amount_capturable, created.amount_received) == (0, 0)
    assert created.status == "requires_payment_method"
    assert created.metadata.to_dict() == {"order_number": "KG-1"}
    assert created.last_payment_error is None and created.latest_charge is None
    assert created.livemode is False and created.created <= time.time()

    retrieved = client.v1.payment_intents.retrieve(created.id)
    assert retrieved.to_dict() == created.to_dict() == fake_stripe.intent(created.id)
    method, path, params, key = fake_stripe.requests[0]
    assert (method, path) == ("POST", "/v1/payment_intents")
    assert params["metadata"] == {"order_number": "KG-1"} and params["amount"] == "5000"
    assert key  # the library sends one with every POST
    assert fake_stripe.requests[1][:2] == ("GET", f"/v1/payment_intents/{created.id}")


def test_an_intent_with_a_payment_method_requires_confirmation(client):
    intent = create_intent(client, payment_method="pm_card_visa")

    assert intent.status == "requires_confirmation"
    assert intent.payment_method == "pm_card_visa"


def test_unknown_intent_unknown_parameter_and_unknown_path(client, fake_stripe):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        create_intent(client, amount_typo=1)
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "amount_typo")

    with pytest.raises(stripe.InvalidRequestError) as no_route:
        client.raw_request("get", "/v1/charges")
    assert no_route.value.http_status == 404
    assert no_route.value.json_body["error"]["type"] == "invalid_request_error"


def test_same_idempotency_key_replays_and_different_parameters_are_refused(client, fake_stripe):
    params = {"amount": 5000, "currency": "usd", "capture_method": "manual"}
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-1"})
    again = client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-1"})

    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(fake_stripe.intents) == 1

    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(
            params={**params, "amount": 6000}, options={"idempotency_key": "k-1"}
        )
    assert len(fake_stripe.intents) == 1
    assert [request.idempotency_key for request in fake_stripe.requests] == ["k-1"] * 3


def test_capture_only_after_the_card_is_authorized(client, fake_stripe):
    intent = create_intent(client)
    with pytest.raises(stripe.InvalidRequestError) as early:
        client.v1.payment_intents.capture(intent.id)
    assert early.value.code == "payment_intent_unexpected_state"

    authorized = fake_stripe.confirm(intent.id, "authorized")
    assert (authorized["status"], authorized["amount_capturable"]) == ("requires_capture", 5000)
    assert authorized["latest_charge"].startswith("ch_")

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 5001})
    assert too_much.value.code == "amount_too_large"

    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 4000})
    assert captured.status == "succeeded"
    assert (captured.amount_received, captured.amount_capturable) == (4000, 0)
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.payment_intents.capture(intent.id)
    assert twice.value.code == "payment_intent_unexpected_state"
    assert [event["type"] for event in fake_stripe.events] == [
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
    ]


def test_a_declined_card_sets_last_payment_error(client, fake_stripe):
    intent = create_intent(client)

    declined = fake_stripe.confirm(intent.id, "declined")

    retrieved = client.v1.payment_intents.retrieve(intent.id)
    assert declined["status"] == retrieved.status == "requires_payment_method"
    assert retrieved.last_payment_error.code == "card_declined"
    assert retrieved.last_payment_error.decline_code == "generic_decline"
    assert retrieved.last_payment_error.message == "Your card was declined."
    # The customer tries another card.
    assert fake_stripe.confirm(intent.id, "authorized")["last_payment_error"] is None


def test_three_d_secure_and_processing_outcomes(client, fake_stripe):
    intent = create_intent(client)

    assert fake_stripe.confirm(intent.id, "requires_action")["status"] == "requires_action"
    assert fake_stripe.confirm(intent.id, "processing")["status"] == "processing"
    assert fake_stripe.confirm(intent.id, "authorized")["status"] == "requires_capture"


def test_cancel_from_requires_capture_and_not_after_success(client, fake_stripe):
    intent = create_intent(client)
    fake_stripe.confirm(intent.id)

    canceled = client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "abandoned"}
    )

    assert (canceled.status, canceled.amount_capturable) == ("canceled", 0)
    assert canceled.cancellation_reason == "abandoned"
    with pytest.raises(FakeStripeError) as refused:
        fake_stripe.confirm(intent.id)
    assert refused.value.code == "payment_intent_unexpected_state"

    succeeded = captured_intent(client, fake_stripe)
    with pytest.raises(stripe.InvalidRequestError) as late:
        client.v1.payment_intents.cancel(succeeded.id)
    assert late.value.code == "payment_intent_unexpected_state"
    with pytest.raises(FakeStripeError):
        fake_stripe.confirm(succeeded.id)


def test_refunds_partial_then_the_rest_then_nothing_more(client, fake_stripe):
    intent = captured_intent(client, fake_stripe, amount=5000)

    partial = client.v1.refunds.create(
        params={
            "payment_intent": intent.id,
            "amount": 2000,
            "reason": "requested_by_customer",
            "metadata": {"return": "R-1"},
        }
    )
    assert isinstance(partial, stripe.Refund)
    assert (partial.amount, partial.currency, partial.status) == (2000, "usd", "succeeded")
    assert (partial.payment_intent, partial.reason) == (intent.id, "requested_by_customer")
    assert partial.metadata.to_dict() == {"return": "R-1"}
    assert fake_stripe.refunded(intent.id) == 2000

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 3001})
    assert too_much.value.code == "amount_too_large"

    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 3000
    assert fake_stripe.refunded(intent.id) == 5000
    assert client.v1.refunds.retrieve(rest.id).to_dict() == fake_stripe.refund(rest.id)

    with pytest.raises(stripe.InvalidRequestError) as done:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert done.value.code == "charge_already_refunded"
    assert [refund["amount"] for refund in fake_stripe.refunds] == [2000, 3000]


def test_refund_only_for_a_succeeded_intent(client, fake_stripe):
    intent = create_intent(client)
    fake_stripe.confirm(intent.id)

    with pytest.raises(stripe.InvalidRequestError) as uncaptured:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert uncaptured.value.code == "payment_intent_unexpected_state"
    assert fake_stripe.refunds == []


def test_a_wrong_key_is_an_authentication_error(fake_stripe):
    with pytest.raises(stripe.AuthenticationError) as refused:
        client_for(fake_stripe.base_url, "sk_test_wrong").v1.payment_intents.retrieve("pi_x")

    assert refused.value.http_status == 401
    assert refused.value.json_body["error"]["type"] == "invalid_request_error"


def test_server_error_changes_nothing_and_the_retry_with_the_same_key_goes_through(
    client, fake_stripe
):
    fake_stripe.fail_next("POST", "/v1/payment_intents", "server_error")
    params = {"amount": 5000, "currency": "usd"}

    with pytest.raises(stripe.APIError) as failed:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-2"})
    assert failed.value.http_status == 500
    assert fake_stripe.intents == []

    retried = client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-2"})
    assert [intent["id"] for intent in fake_stripe.intents] == [retried.id]


def test_timeout_is_a_connection_error(client, fake_stripe):
    intent = create_intent(client)
    fake_stripe.confirm(intent.id)
    fake_stripe.timeout_sleep = 1.5  # past the client's 1 s read timeout
    fake_stripe.fail_next("post", f"/v1/payment_intents/{intent.id}/capture", "timeout")

    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.payment_intents.capture(intent.id)

    assert time.monotonic() - started < 1.5
    assert fake_stripe.intent(intent.id)["status"] == "requires_capture"


def test_card_declined_and_rate_limit_failures(client, fake_stripe):
    fake_stripe.fail_next("POST", "/v1/payment_intents", "card_declined")
    fake_stripe.fail_next("GET", "/v1/", "rate_limit", times=2)

    with pytest.raises(stripe.CardError) as declined:
        create_intent(client)
    assert declined.value.code == "card_declined"
    assert declined.value.http_status == 402
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError):
            client.v1.payment_intents.retrieve("pi_any")
    assert create_intent(client).status == "requires_payment_method"


def test_reset_forgets_everything(client, fake_stripe):
    create_intent(client)
    fake_stripe.fail_next("POST", "/v1/", "server_error")
    fake_stripe.timeout_sleep = 0.1

    fake_stripe.reset()

    assert fake_stripe.intents == fake_stripe.requests == fake_stripe.events == []
    assert fake_stripe.timeout_sleep == 3.0
    assert create_intent(client).id


def test_signed_events_verify_with_stripe_and_stale_or_foreign_ones_do_not(client, fake_stripe):
    intent = captured_intent(client, fake_stripe)
    event = fake_stripe.event("payment_intent.succeeded", fake_stripe.intent(intent.id))
    assert event["id"].startswith("evt_") and event["livemode"] is False
    assert event["api_version"] == stripe.api_version

    body, header = fake_stripe.signed(event)
    verified = stripe.Webhook.construct_event(body, header, fake_stripe.webhook_secret, 300)
    assert verified.type == "payment_intent.succeeded"
    assert verified.data.object.id == intent.id
    assert header == stripe.WebhookSignature.generate_signature_header(
        body.decode(), fake_stripe.webhook_secret, int(header[2:].split(",")[0])
    )

    stale_body, stale = fake_stripe.signed(event, timestamp=int(time.time()) - 600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(stale_body, stale, fake_stripe.webhook_secret, 300)
    foreign_body, foreign = fake_stripe.signed(body, secret="whsec_other")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(foreign_body, foreign, fake_stripe.webhook_secret, 300)


def test_dev_confirm_endpoint_takes_the_client_secret_or_the_key(client, fake_stripe):
    intent = create_intent(client)
    path = f"/_dev/payment_intents/{intent.id}/confirm"

    status, body = raw_post(fake_stripe, path, {"outcome": "declined", "client_secret": "x"})
    assert status == 401
    status, body = raw_post(
        fake_stripe, path, {"outcome": "declined", "client_secret": intent.client_secret}
    )
    assert (status, body["status"]) == (200, "requires_payment_method")
    basic = base64.b64encode(f"{fake_stripe.secret_key}:".encode()).decode()
    status, body = raw_post(fake_stripe, path, {}, {"Authorization": f"Basic {basic}"})
    assert (status, body["status"]) == (200, "requires_capture")


def test_state_changes_are_posted_to_the_webhook_url_signed():
    received = []

    class Inbox(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    inbox = ThreadingHTTPServer(("127.0.0.1", 0), Inbox)
    threading.Thread(target=inbox.serve_forever, kwargs={"poll_interval": 0.05}).start()
    url = f"http://127.0.0.1:{inbox.server_address[1]}/webhook"
    try:
        with FakeStripe(webhook_url=url) as fake:
            client = client_for(fake.base_url)
            intent = create_intent(client)
            fake.confirm(intent.id)
            client.v1.payment_intents.capture(intent.id)
            client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})
            deadline = time.monotonic() + 3
            while len(received) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        inbox.shutdown()
        inbox.server_close()

    events = [
        stripe.Webhook.construct_event(body, signature, "whsec_fake", 300)
        for body, signature in received
    ]
    assert [event.type for event in events] == [
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
        "refund.created",
    ]
    assert events[2].data.object.amount == 100


def test_management_command_serves_and_prints_the_env_lines():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "fake_stripe", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "main.settings.test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        while not any(line.startswith("STRIPE_WEBHOOK_SECRET=") for line in lines):
            line = process.stdout.readline()
            assert line, "the command exited before printing its .env lines"
            lines.append(line.strip())
        assert f"STRIPE_API_BASE=http://127.0.0.1:{port}" in lines
        assert "STRIPE_SECRET_KEY=sk_test_fake" in lines
        client = client_for(f"http://127.0.0.1:{port}")
        assert create_intent(client).status == "requires_payment_method"
    finally:
        process.terminate()
        process.wait(timeout=10)
