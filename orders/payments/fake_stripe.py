"""A fake Stripe API on a loopback port, for tests and local development.

The real `stripe` library talks to it over HTTP (`base_addresses={"api": fake.base_url}`), so
the code under test runs unchanged: form-encoded requests, `Authorization: Bearer`, the
`Idempotency-Key` header, Stripe-shaped JSON answers and errors. It models only what the shop
uses: PaymentIntents (create, retrieve, capture, cancel) and Refunds (create, retrieve).

What Stripe.js does in the browser (confirming the card) has no server API here; tests call
`fake.confirm(pi_id, outcome)`, and local development posts to the dev endpoint
`POST /_dev/payment_intents/{id}/confirm` (`outcome=authorized|declined|requires_action|
processing`, authorised by the secret key or by the intent's `client_secret`, like Stripe.js).

Standard library only and no Django: importable from tests, scripts and management commands.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import queue
import re
import secrets
import string
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

logger = logging.getLogger(__name__)

# The API version the installed `stripe` library (16.1.0) pins; events carry it like Stripe's.
API_VERSION = "2026-10-28.endive"

CONFIRM_OUTCOMES = ("authorized", "declined", "requires_action", "processing")
FAILURE_MODES = ("server_error", "timeout", "card_declined", "rate_limit")
CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")

# Statuses Stripe lets a PaymentIntent leave by confirming or by cancelling. `processing` is
# confirmable here only so a test can settle it (Stripe settles it on its own).
CONFIRMABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}
)
CANCELABLE = frozenset(
    {
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
        "processing",
        "requires_capture",
    }
)

# Parameters each endpoint accepts (real Stripe parameters; those not modelled are ignored).
# Anything else is refused like Stripe does, so a typo in the caller fails a test.
_CREATE_INTENT_PARAMS = frozenset(
    {
        "amount",
        "currency",
        "capture_method",
        "confirm",
        "customer",
        "description",
        "metadata",
        "payment_method",
        "payment_method_types",
        "automatic_payment_methods",
        "receipt_email",
        "setup_future_usage",
        "shipping",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "return_url",
        "expand",
    }
)
_CAPTURE_PARAMS = frozenset({"amount_to_capture", "metadata", "expand"})
_CANCEL_PARAMS = frozenset({"cancellation_reason", "expand"})
_REFUND_PARAMS = frozenset({"payment_intent", "amount", "reason", "metadata", "expand"})
_RETRIEVE_PARAMS = frozenset({"expand", "client_secret"})
_DEV_CONFIRM_PARAMS = frozenset({"outcome", "client_secret"})

DECLINE_ERROR = {
    "type": "card_error",
    "code": "card_declined",
    "decline_code": "generic_decline",
    "message": "Your card was declined.",
}


class FakeStripeError(Exception):
    """A refusal in Stripe's error shape: the HTTP answer, and what `.confirm()` raises.

    `replayable` says whether the idempotency store keeps the answer: Stripe saves results
    only once an endpoint began executing, so parameter and lookup errors are not saved
    (a corrected retry with the same key goes through), while state refusals are.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        replayable: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.replayable = replayable
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


class RecordedRequest(NamedTuple):
    """One request the server received, for assertions (unpacks as a 4-tuple)."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


class _Failure:
    def __init__(self, method: str, path_prefix: str, mode: str, times: int) -> None:
        self.method = method
        self.path_prefix = path_prefix
        self.mode = mode
        self.times = times


class FakeStripe:
    """An in-memory Stripe on `127.0.0.1`, served by a daemon thread.

    Use as a context manager or call `.start()` / `.stop()`. All state sits behind one lock;
    the control methods below are safe to call while requests are in flight.
    """

    api_version = API_VERSION
    default_timeout_sleep = 3.0

    def __init__(
        self,
        secret_key: str = "sk_test_fake",  # noqa: S107 - the fake's own key, no secret
        webhook_secret: str = "whsec_fake",  # noqa: S107
        *,
        port: int = 0,
        webhook_url: str | None = None,
    ) -> None:
        """`port=0` takes a free port from the OS (no race, unlike probing for one first).

        With `webhook_url`, every state change is also POSTed there as a signed event, from a
        background thread, best effort (failures are logged).
        """
        if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must be an http(s) URL, not {webhook_url!r}")
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.timeout_sleep = self.default_timeout_sleep
        self._port = port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._deliveries: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._delivery_thread: threading.Thread | None = None
        self._clear()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        """Bind the port and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeStripe is already running")
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self._port), _Handler, fake=self)
        # A short poll interval so `.stop()` returns at once (the default waits up to 0.5 s).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-stripe",
            daemon=True,
        )
        self._thread.start()
        self._delivery_thread = threading.Thread(
            target=self._deliver_events, name="fake-stripe-webhooks", daemon=True
        )
        self._delivery_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port; requests sleeping in a "timeout" wake up."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._deliveries.put(None)
        for thread in (self._thread, self._delivery_thread):
            if thread is not None:
                thread.join(timeout=5)
        self._server = self._thread = self._delivery_thread = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on (only while running)."""
        if self._server is None:
            raise RuntimeError("FakeStripe is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, what `STRIPE_API_BASE` / `base_addresses["api"]` takes."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Forget every intent, refund, request, idempotency key, event and pending failure;
        `timeout_sleep` goes back to its default."""
        with self._lock:
            self._clear()
            self.timeout_sleep = self.default_timeout_sleep

    def _clear(self) -> None:
        self._intents: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._requests: list[RecordedRequest] = []
        self._idempotency: dict[str, tuple[tuple[Any, ...], int, dict[str, Any]]] = {}
        self._failures: list[_Failure] = []
        self._events: list[dict[str, Any]] = []

    # -- what tests look at ------------------------------------------------------------------

    def intent(self, pi_id: str) -> dict[str, Any]:
        """A copy of the stored PaymentIntent `pi_id`; KeyError if there is none."""
        with self._lock:
            return copy.deepcopy(self._intents[pi_id])

    @property
    def intents(self) -> list[dict[str, Any]]:
        """Copies of all PaymentIntents, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._intents.values()))

    def refund(self, re_id: str) -> dict[str, Any]:
        """A copy of the stored Refund `re_id`; KeyError if there is none."""
        with self._lock:
            return copy.deepcopy(self._refunds[re_id])

    @property
    def refunds(self) -> list[dict[str, Any]]:
        """Copies of all Refunds, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._refunds.values()))

    def refunded(self, pi_id: str) -> int:
        """The amount refunded so far on PaymentIntent `pi_id` (minor units)."""
        with self._lock:
            return self._refunded(pi_id)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order: (method, path, params, idempotency_key).

        `params` is the decoded form body (POST) or query (GET), nested like the caller's
        dict (`{"metadata": {"order_number": "KG-1"}}`); values are strings as sent.
        """
        with self._lock:
            return list(self._requests)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of every state change so far (what webhooks would carry), oldest first.

        Confirm: `payment_intent.amount_capturable_updated` (authorized, manual capture),
        `payment_intent.succeeded` (authorized, automatic capture), `payment_intent.
        payment_failed`, `payment_intent.requires_action`, `payment_intent.processing`.
        Capture: `payment_intent.succeeded`. Cancel: `payment_intent.canceled`. Refund:
        `refund.created`.
        """
        with self._lock:
            return copy.deepcopy(self._events)

    # -- what tests do -----------------------------------------------------------------------

    def confirm(self, pi_id: str, outcome: str = "authorized") -> dict[str, Any]:
        """Do what Stripe.js confirming the card does; returns a copy of the intent.

        "authorized": a manual-capture intent goes to `requires_capture` with
        `amount_capturable = amount` (an automatic-capture one straight to `succeeded`);
        "declined": back to `requires_payment_method` with a `card_declined`
        `last_payment_error`; "requires_action": 3-D Secure pending; "processing".
        Raises FakeStripeError (`payment_intent_unexpected_state`) from a status Stripe would
        not confirm (requires_capture, succeeded, canceled), and (`resource_missing`) for an
        unknown id.
        """
        if outcome not in CONFIRM_OUTCOMES:
            raise ValueError(f"outcome must be one of {CONFIRM_OUTCOMES}, not {outcome!r}")
        with self._lock:
            intent = self._intent_or_404(pi_id)
            if intent["status"] not in CONFIRMABLE:
                raise _unexpected_state(intent, "confirm")
            intent["payment_method"] = intent["payment_method"] or "pm_card_visa"
            intent["last_payment_error"] = None
            intent["next_action"] = None
            if outcome == "authorized":
                intent["latest_charge"] = _new_id("ch")
                if intent["capture_method"] == "manual":
                    intent["status"] = "requires_capture"
                    intent["amount_capturable"] = intent["amount"]
                    event_type = "payment_intent.amount_capturable_updated"
                else:
                    intent["status"] = "succeeded"
                    intent["amount_received"] = intent["amount"]
                    event_type = "payment_intent.succeeded"
            elif outcome == "declined":
                intent["latest_charge"] = _new_id("ch")
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = {
                    **DECLINE_ERROR,
                    "charge": intent["latest_charge"],
                    "payment_method": {"id": intent["payment_method"], "object": "payment_method"},
                }
                intent["payment_method"] = None
                event_type = "payment_intent.payment_failed"
            elif outcome == "requires_action":
                intent["status"] = "requires_action"
                intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
                event_type = "payment_intent.requires_action"
            else:
                intent["status"] = "processing"
                event_type = "payment_intent.processing"
            self._state_changed(event_type, intent)
            return copy.deepcopy(intent)

    def fail_next(self, method: str, path_prefix: str, mode: str, times: int = 1) -> None:
        """Answer the next `times` requests matching `method` and `path_prefix` with a failure.

        Modes: "server_error" (500 api_error), "timeout" (sleep `timeout_sleep` seconds, longer
        than the client's read timeout, then 500), "card_declined" (402 card_error
        `card_declined`), "rate_limit" (429). The failure comes after the key check and before
        anything else: no state changes and no idempotency key is used up, so a retry with
        the same key goes through.
        """
        if mode not in FAILURE_MODES:
            raise ValueError(f"mode must be one of {FAILURE_MODES}, not {mode!r}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._failures.append(_Failure(method.upper(), path_prefix, mode, times))

    def event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        event_id: str | None = None,
        created: int | None = None,
    ) -> dict[str, Any]:
        """A Stripe event dict of `event_type` carrying a copy of `obj` (an intent or refund)."""
        return {
            "id": event_id or _new_id("evt"),
            "object": "event",
            "type": event_type,
            "created": int(time.time()) if created is None else created,
            "api_version": self.api_version,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": copy.deepcopy(obj)},
        }

    def signed(
        self,
        event: dict[str, Any] | bytes | str,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[bytes, str]:
        """`(body, Stripe-Signature header)` for a webhook delivery of `event`.

        The header is Stripe's `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
        which `stripe.Webhook.construct_event(body, header, secret)` accepts. `secret`
        defaults to the server's webhook secret; pass an old `timestamp` for a stale one.
        """
        if isinstance(event, dict):
            body = json.dumps(event).encode()
        elif isinstance(event, str):
            body = event.encode()
        else:
            body = bytes(event)
        timestamp = int(time.time()) if timestamp is None else timestamp
        key = (secret if secret is not None else self.webhook_secret).encode()
        signature = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return body, f"t={timestamp},v1={signature}"

    # -- serving -----------------------------------------------------------------------------

    def _handle(
        self, method: str, path: str, params: dict[str, Any], headers: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """One request in, `(status, body, extra headers)` out."""
        key = headers.get("Idempotency-Key")
        with self._lock:
            self._requests.append(RecordedRequest(method, path, copy.deepcopy(params), key))
        route = _route(method, path)
        try:
            self._authorize(path, params, headers, route)
            with self._lock:
                failure = self._take_failure(method, path)
            if failure is not None:
                return self._fail(failure)
            if route is None:
                raise FakeStripeError(404, f"Unrecognized request URL ({method}: {path}).")
            action, path_id = route
            with self._lock:
                if method == "POST" and key:
                    return self._idempotent(key, (method, path, params), action, path_id, params)
                return 200, action(self, path_id, params), {}
        except FakeStripeError as error:
            return error.status, error.body(), {}

    def _idempotent(
        self,
        key: str,
        fingerprint: tuple[Any, ...],
        action: Any,
        path_id: str | None,
        params: dict[str, Any],
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        saved = self._idempotency.get(key)
        if saved is not None:
            saved_fingerprint, status, body = saved
            if saved_fingerprint != fingerprint:
                raise FakeStripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type="idempotency_error",
                )
            return status, copy.deepcopy(body), {"Idempotent-Replayed": "true"}
        try:
            status, body = 200, action(self, path_id, params)
        except FakeStripeError as error:
            if not error.replayable:
                raise
            status, body = error.status, error.body()
        self._idempotency[key] = (fingerprint, status, copy.deepcopy(body))
        return status, body, {}

    def _authorize(self, path: str, params: dict[str, Any], headers: Any, route: Any) -> None:
        authorization = headers.get("Authorization") or ""
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "basic":
            # `curl -u sk_test_…:` as in Stripe's docs: the key is the user name.
            try:
                given = base64.b64decode(given).decode().partition(":")[0]
            except ValueError:
                given = ""
        if scheme.lower() in ("bearer", "basic") and _same(given, self.secret_key):
            return
        if path.startswith("/_dev/") and route is not None and "client_secret" in params:
            # Stripe.js confirms with the publishable key and the intent's client secret.
            with self._lock:
                intent = self._intents.get(route[1] or "")
                if intent and _same(str(params["client_secret"]), intent["client_secret"]):
                    return
        if not given:
            message = (
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY')."
            )
        else:
            message = f"Invalid API Key provided: {given[:8]}{'*' * max(len(given) - 12, 0)}"
            message += given[-4:]
        raise FakeStripeError(401, message)

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and path.startswith(failure.path_prefix):
                failure.times -= 1
                if failure.times == 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _fail(self, failure: _Failure) -> tuple[int, dict[str, Any], dict[str, str]]:
        if failure.mode == "card_declined":
            return 402, {"error": dict(DECLINE_ERROR)}, {}
        if failure.mode == "rate_limit":
            error = FakeStripeError(
                429,
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                code="rate_limit",
            )
            return error.status, error.body(), {}
        if failure.mode == "timeout":
            self._stopping.wait(self.timeout_sleep)
        return 500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}, {}

    # -- endpoints (called with the lock held) -----------------------------------------------

    def _create_intent(self, _: str | None, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, _CREATE_INTENT_PARAMS)
        amount = _positive_int(params, "amount", required=True)
        currency = str(params.get("currency") or "")
        if not currency:
            raise _missing("currency")
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise FakeStripeError(
                400, f"Invalid currency: {currency}.", code="parameter_invalid", param="currency"
            )
        capture_method = params.get("capture_method", "automatic_async")
        if capture_method not in CAPTURE_METHODS:
            raise _invalid_choice("capture_method", capture_method, CAPTURE_METHODS)
        pi_id = _new_id("pi")
        payment_method = params.get("payment_method") or None
        intent = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method,
            "client_secret": f"{pi_id}_secret_{_random(25)}",
            "created": int(time.time()),
            "currency": currency.lower(),
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": _metadata(params),
            "next_action": None,
            "payment_method": payment_method,
            "payment_method_types": _list(params.get("payment_method_types")) or ["card"],
            "receipt_email": params.get("receipt_email"),
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
        }
        self._intents[pi_id] = intent
        return copy.deepcopy(intent)

    def _retrieve_intent(self, pi_id: str | None, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, _RETRIEVE_PARAMS)
        return copy.deepcopy(self._intent_or_404(pi_id))

    def _capture_intent(self, pi_id: str | None, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, _CAPTURE_PARAMS)
        intent = self._intent_or_404(pi_id)
        if intent["status"] != "requires_capture":
            raise _unexpected_state(intent, "capture")
        amount = _positive_int(params, "amount_to_capture") or intent["amount_capturable"]
        if amount > intent["amount_capturable"]:
            raise FakeStripeError(
                400,
                f"The amount_to_capture ({amount}) is greater than the amount_capturable "
                f"({intent['amount_capturable']}) on this PaymentIntent.",
                code="amount_too_large",
                param="amount_to_capture",
            )
        intent["status"] = "succeeded"
        intent["amount_received"] = amount
        intent["amount_capturable"] = 0
        intent["metadata"].update(_metadata(params))
        self._state_changed("payment_intent.succeeded", intent)
        return copy.deepcopy(intent)

    def _cancel_intent(self, pi_id: str | None, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, _CANCEL_PARAMS)
        reason = params.get("cancellation_reason")
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise _invalid_choice("cancellation_reason", reason, CANCELLATION_REASONS)
        intent = self._intent_or_404(pi_id)
        if intent["status"] not in CANCELABLE:
            raise _unexpected_state(intent, "cancel")
        intent["status"] = "canceled"
        intent["amount_capturable"] = 0
        intent["canceled_at"] = int(time.time())
        intent["cancellation_reason"] = reason
        intent["next_action"] = None
        self._state_changed("payment_intent.canceled", intent)
        return copy.deepcopy(intent)

    def _create_refund(self, _: str | None, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, _REFUND_PARAMS)
        pi_id = params.get("payment_intent")
        if not pi_id:
            raise _missing("payment_intent")
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise _invalid_choice("reason", reason, REFUND_REASONS)
        intent = self._intents.get(pi_id)
        if intent is None:
            raise FakeStripeError(
                400,
                f"No such payment_intent: '{pi_id}'",
                code="resource_missing",
                param="payment_intent",
            )
        if intent["status"] != "succeeded":
            raise FakeStripeError(
                400,
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                code="payment_intent_unexpected_state",
                replayable=True,
            )
        left = intent["amount_received"] - self._refunded(pi_id)
        if left <= 0:
            raise FakeStripeError(
                400,
                f"Charge {intent['latest_charge']} has already been refunded.",
                code="charge_already_refunded",
                replayable=True,
            )
        amount = _positive_int(params, "amount") or left
        if amount > left:
            raise FakeStripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
                replayable=True,
            )
        refund = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "created": int(time.time()),
            "currency": intent["currency"],
            "metadata": _metadata(params),
            "payment_intent": pi_id,
            "reason": reason,
            "status": "succeeded",
        }
        self._refunds[refund["id"]] = refund
        self._state_changed("refund.created", refund)
        return copy.deepcopy(refund)

    def _retrieve_refund(self, re_id: str | None, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, _RETRIEVE_PARAMS - {"client_secret"})
        refund = self._refunds.get(re_id or "")
        if refund is None:
            raise FakeStripeError(
                404, f"No such refund: '{re_id}'", code="resource_missing", param="id"
            )
        return copy.deepcopy(refund)

    def _dev_confirm(self, pi_id: str | None, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, _DEV_CONFIRM_PARAMS)
        outcome = params.get("outcome", "authorized")
        if outcome not in CONFIRM_OUTCOMES:
            raise _invalid_choice("outcome", outcome, CONFIRM_OUTCOMES)
        return self.confirm(pi_id or "", outcome)

    # -- state helpers -----------------------------------------------------------------------

    def _intent_or_404(self, pi_id: str | None) -> dict[str, Any]:
        intent = self._intents.get(pi_id or "")
        if intent is None:
            raise FakeStripeError(
                404,
                f"No such payment_intent: '{pi_id}'",
                code="resource_missing",
                param="intent",
            )
        return intent

    def _refunded(self, pi_id: str) -> int:
        return sum(r["amount"] for r in self._refunds.values() if r["payment_intent"] == pi_id)

    def _state_changed(self, event_type: str, obj: dict[str, Any]) -> None:
        event = self.event(event_type, obj)
        self._events.append(event)
        if self.webhook_url:
            self._deliveries.put(event)

    def _deliver_events(self) -> None:
        """Post queued events to `webhook_url` one by one (in order), logging failures."""
        while (event := self._deliveries.get()) is not None:
            url = self.webhook_url
            if not url:
                continue
            body, signature = self.signed(event)
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature,
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    logger.info("webhook %s %s -> %s", event["type"], event["id"], response.status)
            except urllib.error.HTTPError as error:
                logger.warning("webhook %s %s -> %s", event["type"], event["id"], error.code)
            except OSError as error:
                logger.warning(
                    "webhook %s %s to %s failed: %s", event["type"], event["id"], url, error
                )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, *, fake: FakeStripe) -> None:
        self.fake = fake
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeStripe/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_OPTIONS(self) -> None:
        # CORS preflight, so a browser page can call the dev confirm endpoint.
        self.send_response(204)
        self._cors_headers()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(url.query, keep_blank_values=True)
        if method == "POST":
            pairs += parse_qsl(raw, keep_blank_values=True)
        params = _decode_form(pairs)
        try:
            status, body, headers = self.server.fake._handle(method, url.path, params, self.headers)
        except Exception:
            logger.exception("fake Stripe failed on %s %s", method, url.path)
            status, body, headers = 500, {"error": {"type": "api_error", "message": "bug"}}, {}
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", _new_id("req"))
            self.send_header("Stripe-Version", self.server.fake.api_version)
            if key := self.headers.get("Idempotency-Key"):
                self.send_header("Idempotency-Key", key)
            for name, value in headers.items():
                self.send_header(name, value)
            if url.path.startswith("/_dev/"):
                self._cors_headers()
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a "timeout" failure outlasting its read timeout).
            pass

    def _cors_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type")

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s - %s", self.address_string(), format % args)


# -- routing and parameters ------------------------------------------------------------------

_ROUTES: tuple[tuple[str, re.Pattern[str], Any], ...] = (
    ("POST", re.compile(r"/v1/payment_intents"), FakeStripe._create_intent),
    ("GET", re.compile(r"/v1/payment_intents/([^/]+)"), FakeStripe._retrieve_intent),
    ("POST", re.compile(r"/v1/payment_intents/([^/]+)/capture"), FakeStripe._capture_intent),
    ("POST", re.compile(r"/v1/payment_intents/([^/]+)/cancel"), FakeStripe._cancel_intent),
    ("POST", re.compile(r"/v1/refunds"), FakeStripe._create_refund),
    ("GET", re.compile(r"/v1/refunds/([^/]+)"), FakeStripe._retrieve_refund),
    ("POST", re.compile(r"/_dev/payment_intents/([^/]+)/confirm"), FakeStripe._dev_confirm),
)


def _route(method: str, path: str) -> tuple[Any, str | None] | None:
    for route_method, pattern, action in _ROUTES:
        match = pattern.fullmatch(path)
        if route_method == method and match:
            return action, unquote(match.group(1)) if match.groups() else None
    return None


def _decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`[("metadata[order]", "KG-1"), ("types[0]", "card")]` -> nested dicts and lists."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return _lists(result)


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {key: _lists(child) for key, child in value.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _check_params(params: dict[str, Any], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise FakeStripeError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def _positive_int(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _missing(name)
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise FakeStripeError(
            400, "Invalid integer: " + str(raw), code="parameter_invalid_integer", param=name
        ) from None
    if value < 1:
        raise FakeStripeError(
            400,
            "This value must be greater than or equal to 1.",
            code="amount_too_small",
            param=name,
        )
    return value


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    metadata = params.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise FakeStripeError(
            400, "Invalid object", code="parameter_invalid_object", param="metadata"
        )
    # An empty value unsets a key, as on Stripe.
    return {key: value for key, value in metadata.items() if value != ""}


def _list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def _missing(name: str) -> FakeStripeError:
    return FakeStripeError(
        400, f"Missing required param: {name}.", code="parameter_missing", param=name
    )


def _invalid_choice(name: str, value: Any, choices: tuple[str, ...]) -> FakeStripeError:
    return FakeStripeError(
        400,
        f"Invalid {name}: must be one of {', '.join(choices)} (got {value!r}).",
        code="parameter_invalid",
        param=name,
    )


def _unexpected_state(intent: dict[str, Any], action: str) -> FakeStripeError:
    return FakeStripeError(
        400,
        f"This PaymentIntent's {action} could not be performed because it has a status of "
        f"{intent['status']}.",
        code="payment_intent_unexpected_state",
        replayable=True,
        extra={"payment_intent": copy.deepcopy(intent)},
    )


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that takes any text (`compare_digest` refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _new_id(prefix: str) -> str:
    return f"{prefix}_{_random(24)}"


def _random(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
