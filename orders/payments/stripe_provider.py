"""Stripe as a `Provider`: the official `stripe` library, calls through `STRIPE_API_BASE`.

PaymentIntents use manual capture; every call that changes something carries
an idempotency key the services derive from the order number, so a retry
(ours, or the library's own `STRIPE_MAX_NETWORK_RETRIES`) never makes a second
intent, capture or refund. Webhooks are verified with Stripe's `t=…,v1=…`
HMAC-SHA256 scheme on the raw body (`STRIPE_WEBHOOK_TOLERANCE_SECONDS`).
Tests and local development point `STRIPE_API_BASE` at
`orders.payments.fake_stripe` (`manage.py fake_stripe`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from functools import cache
from typing import Any

import stripe
from django.conf import settings

from orders.models import PaymentState
from orders.payments.providers import (
    EventInvalid,
    Intent,
    PaymentProviderUnavailable,
    PaymentRefused,
    Provider,
    ProviderRefund,
    SignatureInvalid,
    WebhookEvent,
    from_minor,
    to_minor,
)

logger = logging.getLogger("marque.payments")

_STATUSES = frozenset(PaymentState.values) - {PaymentState.DUE_ON_DELIVERY}
_REFUND_STATUSES = {"succeeded": "succeeded", "pending": "pending", "requires_action": "pending"}


@cache
def _client(key: str, base: str, timeout: float, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": base},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


_MAX_ID = 255  # ProviderEvent.event_id
_MAX_TYPE = 100  # ProviderEvent.type
_MAX_MINOR = 10**12  # above any amount a money field holds
_MAX_CREATED = 4_102_444_800  # 2100-01-01


def _event(event: Any) -> WebhookEvent:
    """A verified event body read strictly: a wrong shape raises, it is never half-applied."""
    if not isinstance(event, dict) or not isinstance(event["data"]["object"], dict):
        raise TypeError("not an event object")
    event_id, kind = event["id"], event["type"]
    created = event["created"]
    if not (isinstance(event_id, str) and 0 < len(event_id) <= _MAX_ID):
        raise ValueError("bad event id")
    if not (isinstance(kind, str) and 0 < len(kind) <= _MAX_TYPE):
        raise ValueError("bad event type")
    if not (isinstance(created, int) and 0 < created < _MAX_CREATED):
        raise ValueError("bad event time")
    obj = event["data"]["object"]
    about = obj.get("object")
    return WebhookEvent(
        id=event_id,
        type=kind,
        created=datetime.fromtimestamp(created, tz=UTC),
        intent=intent_from(obj) if about == "payment_intent" else None,
        refund=refund_from(obj) if about == "refund" else None,
    )


def _minor(obj: dict, name: str) -> int:
    value = obj.get(name) or 0
    if not isinstance(value, int) or not 0 <= value < _MAX_MINOR:
        raise ValueError(f"bad {name}")
    return value


def _text(obj: dict, name: str, limit: int = 255) -> str:
    value = obj.get(name) or ""
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"bad {name}")
    return value


def _plain(obj: Any) -> dict:
    """A StripeObject as plain dicts all the way down (it refuses dict methods)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


def intent_from(obj: Any) -> Intent:
    """A Stripe PaymentIntent (object or dict) in the provider-neutral shape."""
    obj = _plain(obj)
    currency = _text(obj, "currency", 3).upper()
    status = obj["status"]
    if status not in _STATUSES:  # a status Stripe may add later: treat as still open
        status = PaymentState.PROCESSING
    received = _minor(obj, "amount_received")
    capturable = _minor(obj, "amount_capturable")
    authorized = received + capturable if status in ("requires_capture", "succeeded") else 0
    error = obj.get("last_payment_error") or {}
    metadata = obj.get("metadata") or {}
    return Intent(
        ref=_text(obj, "id"),
        status=status,
        amount=from_minor(_minor(obj, "amount"), currency),
        amount_authorized=from_minor(authorized, currency),
        amount_captured=from_minor(received, currency),
        currency=currency,
        client_secret=_text(obj, "client_secret"),
        order_number=str(metadata.get("order_number", ""))[:20],
        last_error=str(error.get("decline_code") or error.get("code") or "")[:255],
    )


def refund_from(obj: Any) -> ProviderRefund:
    obj = _plain(obj)
    currency = _text(obj, "currency", 3).upper()
    return ProviderRefund(
        ref=_text(obj, "id"),
        status=_REFUND_STATUSES.get(obj.get("status"), "failed"),
        amount=from_minor(_minor(obj, "amount"), currency),
        payment_ref=_text(obj, "payment_intent"),
        currency=currency,
    )


class StripeProvider(Provider):
    name = "stripe"
    captures_on = "shipped"
    needs_customer = True

    def available(self) -> bool:
        return bool(settings.STRIPE_SECRET_KEY)

    @property
    def _stripe(self) -> stripe.StripeClient:
        if not self.available():
            raise PaymentProviderUnavailable("Card payments are not configured.")
        return _client(
            settings.STRIPE_SECRET_KEY,
            settings.STRIPE_API_BASE,
            float(settings.STRIPE_TIMEOUT_SECONDS),
            settings.STRIPE_MAX_NETWORK_RETRIES,
        )

    def _call(self, operation: str, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (stripe.CardError, stripe.InvalidRequestError, stripe.IdempotencyError) as error:
            logger.warning("Stripe refused %s: %s", operation, error.user_message or error)
            raise PaymentRefused(
                f"The payment provider refused to {operation}: "
                f"{error.user_message or 'invalid request'}",
                extra={"provider_code": error.code or ""},
            ) from error
        except stripe.StripeError as error:
            # Connection, timeout, 5xx, rate limit, authentication: our side or theirs, not the
            # customer's. Logged as an error when it is configuration (a wrong key).
            level = (
                logging.ERROR if isinstance(error, stripe.AuthenticationError) else logging.WARNING
            )
            logger.log(level, "Stripe unavailable for %s: %s", operation, error)
            raise PaymentProviderUnavailable() from error

    def create(self, *, amount, currency, order_number, idempotency_key, payment_method_token=""):
        params: dict[str, Any] = {
            "amount": to_minor(amount, currency),
            "currency": currency.lower(),
            "capture_method": "manual",
            "metadata": {"order_number": order_number},
            "description": f"MARQUE order {order_number}",
        }
        if payment_method_token:
            params["payment_method"] = payment_method_token
        intent = self._call(
            "create the payment",
            self._stripe.v1.payment_intents.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        return intent_from(intent)

    def retrieve(self, ref, *, currency):
        return intent_from(
            self._call("read the payment", self._stripe.v1.payment_intents.retrieve, ref)
        )

    def capture(self, ref, *, amount, currency, idempotency_key):
        intent = self._call(
            "capture the payment",
            self._stripe.v1.payment_intents.capture,
            ref,
            params={"amount_to_capture": to_minor(amount, currency)},
            options={"idempotency_key": idempotency_key},
        )
        return intent_from(intent)

    def cancel(self, ref, *, currency, idempotency_key):
        intent = self._call(
            "cancel the payment",
            self._stripe.v1.payment_intents.cancel,
            ref,
            options={"idempotency_key": idempotency_key},
        )
        return intent_from(intent)

    def refund(self, ref, *, amount, currency, idempotency_key, reason=""):
        params: dict[str, Any] = {
            "payment_intent": ref,
            "amount": to_minor(amount, currency),
            "metadata": {"reason": reason[:500]},
        }
        refund = self._call(
            "refund the payment",
            self._stripe.v1.refunds.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        return refund_from(refund)

    def parse_webhook(self, body: bytes, signature: str) -> WebhookEvent:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret or not signature:
            raise SignatureInvalid()
        try:
            stripe.WebhookSignature.verify_header(
                body.decode("utf-8"),
                signature,
                secret,
                settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
            raise SignatureInvalid() from error
        try:
            return _event(json.loads(body))
        except (ArithmeticError, AttributeError, KeyError, OSError, TypeError, ValueError) as error:
            # Signed with our secret but not an event we can read: refuse, change nothing.
            raise EventInvalid() from error
