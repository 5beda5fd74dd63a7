"""The payment provider interface, and which provider takes which method (SPEC §8).

A provider turns an order's amount into money: `create` an intent the
customer confirms (or cash that is due), `retrieve` its state, `capture`,
`cancel` (void) and `refund` it, and `parse_webhook` its signed events. Every
answer is provider-neutral (`Intent`, `ProviderRefund`, `WebhookEvent`), in
the `PaymentIntent` vocabulary that `orders.models.PaymentState` names, so the
services never see a provider's own objects. Adding a KG acquirer is one more
class here and one more entry in `PAYMENT_PROVIDERS` / `PAYMENT_CARD_PROVIDER`:
checkout and the services do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from main.exceptions import ApplicationError, Conflict, ServiceUnavailable
from orders.models import PaymentMethodType, PaymentState

# Minor units per currency (Stripe's rule: amounts are integers of the smallest unit).
CURRENCY_EXPONENT = {"KGS": 2, "USD": 2}


def to_minor(amount: Decimal, currency: str) -> int:
    return int((amount * (10 ** CURRENCY_EXPONENT[currency.upper()])).to_integral_value())


def from_minor(value: int | None, currency: str) -> Decimal:
    places = CURRENCY_EXPONENT[currency.upper()]
    return (Decimal(value or 0) / (10**places)).quantize(Decimal(1).scaleb(-places))


@dataclass(frozen=True)
class Intent:
    """A provider's payment as it stands (a Stripe PaymentIntent, or cash)."""

    ref: str
    status: str  # a PaymentState value
    amount: Decimal
    amount_authorized: Decimal
    amount_captured: Decimal
    currency: str
    client_secret: str = ""
    order_number: str = ""
    last_error: str = ""


@dataclass(frozen=True)
class ProviderRefund:
    ref: str
    status: str  # a RefundStatus value
    amount: Decimal
    payment_ref: str
    currency: str


@dataclass(frozen=True)
class WebhookEvent:
    """A verified provider event; `intent` or `refund` carries the object it is about."""

    id: str
    type: str
    created: datetime
    intent: Intent | None = None
    refund: ProviderRefund | None = None


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"
    default_detail = "The payment provider cannot be reached. Please try again shortly."


class PaymentRefused(Conflict):
    code = "payment_refused"
    default_detail = "The payment provider refused this operation."


class SignatureInvalid(ApplicationError):
    code = "signature_invalid"
    default_detail = "The webhook signature is missing, wrong or too old."


class EventInvalid(ApplicationError):
    code = "event_invalid"
    default_detail = "The webhook is signed but is not an event we can read."


class Provider:
    """The interface. Every method may raise `PaymentProviderUnavailable` or `PaymentRefused`."""

    name: str = ""
    # When the money is taken: card at shipping, cash when the courier is paid.
    captures_on: str = "shipped"
    # Does the customer have to act (confirm a card) before the order is paid for?
    needs_customer: bool = True

    def available(self) -> bool:
        """Configured well enough to take payments (keys present)."""
        raise NotImplementedError

    def create(
        self,
        *,
        amount: Decimal,
        currency: str,
        order_number: str,
        idempotency_key: str,
        payment_method_token: str = "",
    ) -> Intent:
        raise NotImplementedError

    def retrieve(self, ref: str, *, currency: str) -> Intent:
        raise NotImplementedError

    def capture(self, ref: str, *, amount: Decimal, currency: str, idempotency_key: str) -> Intent:
        raise NotImplementedError

    def cancel(self, ref: str, *, currency: str, idempotency_key: str) -> Intent:
        raise NotImplementedError

    def refund(
        self, ref: str, *, amount: Decimal, currency: str, idempotency_key: str, reason: str = ""
    ) -> ProviderRefund:
        raise NotImplementedError

    def parse_webhook(self, body: bytes, signature: str) -> WebhookEvent:
        """Verify `signature` over the raw `body` and read the event (`SignatureInvalid`)."""
        raise SignatureInvalid()


class CashOnDelivery(Provider):
    """Cash the courier collects: nothing to call, the money is due until delivery."""

    name = "cash_on_delivery"
    captures_on = "delivered"
    needs_customer = False

    def available(self) -> bool:
        return True

    def create(self, *, amount, currency, order_number, idempotency_key, payment_method_token=""):
        return Intent(
            ref="",
            status=PaymentState.DUE_ON_DELIVERY,
            amount=amount,
            amount_authorized=Decimal("0.00"),
            amount_captured=Decimal("0.00"),
            currency=currency,
            order_number=order_number,
        )

    def capture(self, ref, *, amount, currency, idempotency_key):
        return Intent(
            ref=ref,
            status=PaymentState.SUCCEEDED,
            amount=amount,
            amount_authorized=amount,
            amount_captured=amount,
            currency=currency,
        )

    def cancel(self, ref, *, currency, idempotency_key):
        zero = Decimal("0.00")
        return Intent(ref, PaymentState.CANCELED, zero, zero, zero, currency)

    def refund(self, ref, *, amount, currency, idempotency_key, reason=""):
        # Given back in cash or by bank transfer: recorded, nothing to call.
        return ProviderRefund("", "succeeded", amount, ref, currency)


@cache
def _load(path: str) -> Provider:
    return import_string(path)()


def provider_named(name: str) -> Provider:
    """The provider registered as `name` in `PAYMENT_PROVIDERS`."""
    return _load(settings.PAYMENT_PROVIDERS[name])


def provider_for(*, market: str, method: str) -> Provider:
    """Who takes `method` in `market`: cash itself, or the market's card provider."""
    if method == PaymentMethodType.CASH_ON_DELIVERY:
        return provider_named(CashOnDelivery.name)
    return provider_named(settings.PAYMENT_CARD_PROVIDER[market])


def methods_available(market: str) -> list[str]:
    """The methods `market` offers now: `PAYMENT_METHODS`, minus a card provider without keys."""
    return [
        method
        for method in settings.PAYMENT_METHODS.get(market, ())
        if method in PaymentMethodType.values
        and provider_for(market=market, method=method).available()
    ]
