"""Orders: payments. Every change to a `Payment` or `Refund` happens here (SPEC §8).

The rules:

* checkout opens one payment per order (`payment_start`, in its transaction);
  a card payment gets its provider intent after commit (`payment_open`), so
  no row lock is held while the provider answers, and its idempotency key is
  derived from the order number: a retry finds the same intent;
* provider states are applied by `payment_sync` only, with the order row
  locked: newer states win, a finished payment (captured or cancelled) never
  goes back, and `Order.payment_status` is derived from the payment each time;
* the status machine calls `payment_on_transition` with the order locked:
  shipping captures a card, delivery collects cash, cancelling voids an
  authorisation or refunds a capture, resuming opens a new payment. A money
  move that fails (provider down) fails the status change: nothing changes;
* `payment_refund` gives money back, never more than captured - refunded.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from main import metrics
from main.exceptions import ApplicationError, Conflict, InvalidInput, NotFound
from orders import events
from orders.models import (
    Order,
    OrderStatus,
    Payment,
    PaymentMethodType,
    PaymentState,
    PaymentStatus,
    Refund,
    RefundMethod,
    RefundStatus,
)
from orders.payments.providers import (
    Intent,
    PaymentProviderUnavailable,
    PaymentRefused,
    Provider,
    ProviderRefund,
    methods_available,
    provider_for,
    provider_named,
)
from users.models import PaymentMethod, User

logger = logging.getLogger("marque.payments")

P = PaymentState
ZERO = Decimal("0.00")
# Why a payment has no provider intent yet (`payment.last_error`).
PROVIDER_UNAVAILABLE = "provider_unavailable"
PROVIDER_REFUSED = "payment_refused"
# Set by the expiry task as the cancel note: a late authorisation may bring such an order back.
PAYMENT_EXPIRED = "payment_expired"
# States in which the customer still has to act; an order in them expires.
AWAITING_CUSTOMER = frozenset(
    {P.REQUIRES_PAYMENT_METHOD, P.REQUIRES_CONFIRMATION, P.REQUIRES_ACTION}
)
FINISHED = frozenset({P.SUCCEEDED, P.CANCELED})
# Order statuses in which a card payment may still be made (confirmed and processing
# only after a provider cancelled an authorisation that had been given).
AWAITING_ORDER = frozenset({OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.PROCESSING})
# Where a card order may go only once its payment is authorised.
NEEDS_AUTHORISATION = frozenset(
    {OrderStatus.CONFIRMED, OrderStatus.PROCESSING, OrderStatus.SHIPPED}
)
# Order of progress: an older event or a call's answer may only move a payment forward.
_RANK = {
    P.DUE_ON_DELIVERY: 0,
    P.REQUIRES_PAYMENT_METHOD: 0,
    P.REQUIRES_CONFIRMATION: 1,
    P.REQUIRES_ACTION: 2,
    P.PROCESSING: 3,
    P.REQUIRES_CAPTURE: 4,
    P.SUCCEEDED: 5,
    P.CANCELED: 5,
}


class PaymentMethodUnavailable(ApplicationError):
    code = "payment_method_unavailable"
    default_detail = "This payment method is not offered in your market."


class PaymentRequired(Conflict):
    code = "payment_required"
    default_detail = "The card payment is not authorised yet: the order stays pending."


class NotRefundable(Conflict):
    code = "not_refundable"
    default_detail = "Nothing was paid on this order that could be refunded."


class RefundTooLarge(ApplicationError):
    code = "refund_exceeds_paid"
    default_detail = "The amount is more than what was paid and not yet refunded."


# --------------------------------------------------------------------------- reading


def payment_status_of(payment: Payment | None) -> str:
    """`Order.payment_status` as the payment makes it (SPEC §8)."""
    if payment is None:
        return PaymentStatus.UNPAID
    if payment.status == P.SUCCEEDED:
        if payment.amount_refunded <= 0:
            return PaymentStatus.PAID
        if payment.amount_refunded < payment.amount_captured:
            return PaymentStatus.PARTIALLY_REFUNDED
        return PaymentStatus.REFUNDED
    if payment.status == P.REQUIRES_CAPTURE:
        # Held in full; a partial authorisation is not enough to ship the order.
        return PaymentStatus.AUTHORIZED if is_held(payment) else PaymentStatus.UNPAID
    if payment.status == P.CANCELED and payment.amount_authorized > 0:
        return PaymentStatus.VOIDED
    if payment.last_error and payment.provider_ref:  # the customer's attempt failed
        return PaymentStatus.FAILED
    return PaymentStatus.UNPAID


def is_held(payment: Payment | None) -> bool:
    """The whole amount is authorised (or already captured)."""
    if payment is None:
        return False
    if payment.status == P.SUCCEEDED:
        return True
    return payment.status == P.REQUIRES_CAPTURE and payment.amount_authorized >= payment.amount


def provider_of(payment: Payment) -> Provider:
    return provider_named(payment.provider)


def _key(payment: Payment, action: str, detail: str | None = None) -> str:
    """The provider idempotency key of one action on one payment (derived from the order).

    Creating an intent and refunding use keys fixed by what they do, so a retry after
    a timeout finds the first result. Capture and cancel get a fresh `detail` per
    attempt: the provider keeps a key's first answer (a 500 too) for a day, and the
    intent's own state already refuses a second capture or cancel.
    """
    suffix = f"-{detail}" if detail is not None else ""
    return f"marque-{payment.order.order_number}-{payment.pk}-{action}{suffix}"


def _attempt() -> str:
    return uuid.uuid4().hex[:12]


# --------------------------------------------------------------------------- opening


def payment_method_token(*, user: User, market: str, method: str, payment_method_id: int | None):
    """The provider token of the user's own saved card (404 for anyone else's)."""
    if payment_method_id is None:
        return ""
    if method != PaymentMethodType.CARD:
        message = "payment_method_id goes with the card payment method only."
        raise InvalidInput(message, errors={"payment_method_id": [message]})
    provider = provider_for(market=market, method=method)
    saved = PaymentMethod.objects.filter(
        pk=payment_method_id, user=user, provider=provider.name
    ).first()
    if saved is None:
        raise NotFound(f"You have no saved card with id {payment_method_id}.")
    return saved.provider_token


def check_method(*, market: str, method: str) -> None:
    offered = methods_available(market)
    if method not in offered:
        raise PaymentMethodUnavailable(
            f"{method} is not offered in {market}; choose one of {', '.join(offered) or 'none'}.",
            extra={"payment_methods": offered},
        )


def payment_start(*, order: Order, token: str = "", at: datetime | None = None) -> Payment:
    """Inside the order's transaction: the order's new payment, before any provider call."""
    provider = provider_for(market=order.market, method=order.payment_method)
    now = at or timezone.now()
    if provider.needs_customer:
        status, expires_at = P.REQUIRES_PAYMENT_METHOD, now + hold()
    else:
        status, expires_at = P.DUE_ON_DELIVERY, None
    payment = Payment.objects.create(
        order=order,
        provider=provider.name,
        status=status,
        amount=order.total,
        payment_method_token=token,
        expires_at=expires_at,
    )
    _derive(order, payment)
    return payment


def payment_replace(*, order: Order) -> Payment | None:
    """An order still waiting for its money, without a live payment, gets a new one (order
    locked by the caller): the provider cancelled the last one."""
    if order.status not in AWAITING_ORDER or _locked_payment(order) is not None:
        return None
    return payment_start(order=order)


def hold() -> timedelta:
    return timedelta(minutes=settings.PAYMENT_HOLD_MINUTES)


def payment_open(order: Order) -> Payment | None:
    """After commit: make sure the order's card payment has its provider intent.

    Idempotent: the key is the order number and payment id, so a retried
    checkout or a second call returns the same intent. Raises
    `PaymentProviderUnavailable` if the provider cannot be reached, or
    `PaymentRefused`, after noting why in `payment.last_error` (the order stays,
    holding its stock until `expires_at`; `payment_resume` tries again).
    """
    if not provider_for(market=order.market, method=order.payment_method).needs_customer:
        return None  # cash: nothing to make at a provider
    payment = Payment.objects.filter(order=order).exclude(status=P.CANCELED).first()
    if payment is None or payment.provider_ref or order.status not in AWAITING_ORDER:
        return payment
    payment.order = order
    try:
        intent = provider_of(payment).create(
            amount=payment.amount,
            currency=order.currency,
            order_number=order.order_number,
            idempotency_key=_key(payment, "create"),
            payment_method_token=payment.payment_method_token,
        )
    except PaymentProviderUnavailable:
        _note_error(payment, PROVIDER_UNAVAILABLE)
        raise
    except PaymentRefused:  # e.g. a saved card the provider no longer knows
        _note_error(payment, PROVIDER_REFUSED)
        raise
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        payment = Payment.objects.get(pk=payment.pk)
        if not payment.provider_ref:
            payment.provider_ref = intent.ref
            payment.client_secret = intent.client_secret
            payment.last_error = ""
            payment.save(
                update_fields=["provider_ref", "client_secret", "last_error", "updated_at"]
            )
        payment_sync(order=locked, payment=payment, intent=intent)
    return payment


def _note_error(payment: Payment, error: str) -> None:
    """Remember why the intent could not be made (shown as `payment.last_error`)."""
    Payment.objects.filter(pk=payment.pk, provider_ref="").update(
        last_error=error, updated_at=timezone.now()
    )


def payment_resume(*, user: User, order_number: str, payment_method_id: int | None = None) -> Order:
    """The customer asks again for the card payment of a pending order (`POST …/payment/`).

    Makes the provider intent if the first attempt could not (503
    `payment_provider_unavailable` while the provider is down, nothing changed).
    A payment the provider refused to create (a saved card it no longer knows),
    or one it cancelled on its own, is replaced by a new one, with the saved
    card `payment_method_id` or none (the customer enters a card in Stripe.js).
    """
    order = Order.objects.filter(user=user, order_number=order_number).first()
    if order is None:
        raise NotFound("No such order.")
    _check_awaits_payment(order)
    token = payment_method_token(
        user=user, market=order.market, method=order.payment_method,
        payment_method_id=payment_method_id,
    )  # fmt: skip
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        _check_awaits_payment(locked)  # again, under the lock
        payment = _locked_payment(locked)
        # A payment never made at the provider is made anew (a new key: the provider
        # keeps the first answer, a 500 too, for its key).
        replace = payment is not None and not payment.provider_ref
        if replace and (payment.last_error or token):
            payment.status = P.CANCELED
            payment.save(update_fields=["status", "updated_at"])
            payment = None
        if payment is None:  # never made, or cancelled by the provider
            payment_start(order=locked, token=token)
    payment_open(locked)
    return locked


def _check_awaits_payment(order: Order) -> None:
    if order.payment_method != PaymentMethodType.CARD or order.status not in AWAITING_ORDER:
        raise Conflict(
            "Only a card order not yet shipped or cancelled waits for its payment.",
            code="invalid_transition",
            extra={"status": order.status},
        )


# --------------------------------------------------------------------------- applying states


def payment_sync(
    *, order: Order, payment: Payment, intent: Intent, at: datetime | None = None
) -> bool:
    """Apply a provider state to `payment` (its order row locked by the caller).

    `at` is when the provider's event was created; None for the answer to a
    call we just made. The rules, so that events in any order end in the truth:
    a captured or cancelled payment never moves again; an authorisation or a
    finished state is always taken (whenever it was reported, it happened); an
    authorised payment moves only to captured or cancelled; otherwise an event
    no older than the last one applied sets the state, an older event changes
    nothing, and a call's answer only moves forward (e.g. to processing).
    Amounts only grow. Returns whether the status moved.
    """
    old, new = payment.status, intent.status
    newer = at is not None and (payment.synced_at is None or at >= payment.synced_at)
    if old in FINISHED:
        move = False
    elif new in FINISHED or new == P.REQUIRES_CAPTURE:
        move = True
    elif old == P.REQUIRES_CAPTURE:
        move = False
    elif at is not None:
        move = newer  # an older event about a step on the way is history, not news
    else:
        move = _RANK[new] > _RANK[old]
    if move:
        payment.status = new
        payment.last_error = intent.last_error if new == P.REQUIRES_PAYMENT_METHOD else ""
    if newer:
        payment.synced_at = at
    payment.amount_authorized = min(
        payment.amount, max(payment.amount_authorized, intent.amount_authorized)
    )
    payment.amount_captured = min(
        payment.amount_authorized, max(payment.amount_captured, intent.amount_captured)
    )
    if intent.client_secret and not payment.client_secret:
        payment.client_secret = intent.client_secret
    if intent.amount and intent.amount != payment.amount:  # (cash answers carry no amount)
        logger.error("Payment %s: the provider holds %s for %s", payment.pk, intent.amount, order)
    payment.save()
    replaced = (
        payment.status == P.CANCELED
        and (
            Payment.objects.filter(order=order).exclude(status=P.CANCELED).exclude(pk=payment.pk)
        ).exists()
    )
    if not replaced:  # a late event about an old payment says nothing about the order
        _derive(order, payment)
    return move and old != new


def _derive(order: Order, payment: Payment | None) -> None:
    """Store the order's `payment_status` as the payment makes it."""
    status = payment_status_of(payment)
    if order.payment_status != status:
        order.payment_status = status
        Order.objects.filter(pk=order.pk).update(payment_status=status, updated_at=timezone.now())
        metrics.payment_status_changed(order=order, payment=payment)


def _locked_payment(order: Order) -> Payment | None:
    payment = (
        Payment.objects.select_for_update().filter(order=order).exclude(status=P.CANCELED).first()
    )
    if payment is not None:
        payment.order = order
    return payment


def payment_void(*, order: Order, payment: Payment, strict: bool) -> None:
    """Cancel the payment at its provider (order locked). Not `strict`: a provider failure
    is logged and left to reconciliation (nothing was authorised, nothing is held)."""
    provider = provider_of(payment)
    try:
        intent = provider.cancel(
            payment.provider_ref,
            currency=order.currency,
            idempotency_key=_key(payment, "cancel", _attempt()),
        )
    except PaymentProviderUnavailable:
        if strict:
            raise
        logger.warning("Payment %s of %s not cancelled yet: provider down", payment.pk, order)
        return
    except PaymentRefused:
        # It moved on at the provider (captured by a change that was rolled back, or
        # already cancelled): read it, and give captured money back.
        intent = provider.retrieve(payment.provider_ref, currency=order.currency)
        payment_sync(order=order, payment=payment, intent=intent)
        if payment.status == P.SUCCEEDED:
            _refund_rest(order=order, payment=payment)
        elif payment.status != P.CANCELED and strict:
            raise
        return
    payment_sync(order=order, payment=payment, intent=intent)


def payment_on_transition(*, order: Order, from_status: str, to_status: str, at=None) -> None:
    """The money side of a status change (the order row locked by `order_transition`)."""
    payment = _locked_payment(order)
    if to_status == OrderStatus.PENDING and from_status == OrderStatus.CANCELLED:
        if payment is None:
            payment_start(order=order, at=at)
        elif payment.status in AWAITING_CUSTOMER:
            payment.expires_at = (at or timezone.now()) + hold()
            payment.save(update_fields=["expires_at", "updated_at"])
        return
    provider = provider_for(market=order.market, method=order.payment_method)
    if to_status in NEEDS_AUTHORISATION and provider.needs_customer and not is_held(payment):
        # A card order waits in `pending` until its money is held: it is the hold
        # that expires, and nothing ships without money.
        raise PaymentRequired(extra={"payment_status": order.payment_status})
    if payment is None:
        return
    provider = provider_of(payment)
    if to_status == provider.captures_on:
        _capture(order=order, payment=payment, provider=provider)
    elif to_status == OrderStatus.CANCELLED:
        _cancel(order=order, payment=payment, provider=provider)


def _capture(*, order: Order, payment: Payment, provider: Provider) -> None:
    if payment.status == P.SUCCEEDED:
        return
    if provider.needs_customer and payment.status != P.REQUIRES_CAPTURE:
        raise PaymentRequired()
    amount = payment.amount_authorized if provider.needs_customer else payment.amount
    try:
        intent = provider.capture(
            payment.provider_ref,
            amount=amount,
            currency=order.currency,
            idempotency_key=_key(payment, "capture", _attempt()),
        )
    except PaymentRefused:
        # Captured already (by an attempt whose change was rolled back)? Then it stands.
        intent = provider.retrieve(payment.provider_ref, currency=order.currency)
        if intent.status != P.SUCCEEDED:
            raise
    payment_sync(order=order, payment=payment, intent=intent)


def _cancel(*, order: Order, payment: Payment, provider: Provider) -> None:
    if payment.status == P.SUCCEEDED:
        _refund_rest(order=order, payment=payment)
        return
    if not payment.provider_ref and provider.needs_customer:
        # No intent was ever made: nothing to cancel at the provider.
        payment.status = P.CANCELED
        payment.save(update_fields=["status", "updated_at"])
        _derive(order, payment)
        return
    # Held money must be released for the cancel to stand; an intent not yet paid is
    # cancelled as well as the provider allows now, and reconciliation finishes the job.
    payment_void(order=order, payment=payment, strict=payment.status == P.REQUIRES_CAPTURE)


# --------------------------------------------------------------------------- refunds


def _refund_rest(*, order: Order, payment: Payment) -> None:
    """A cancelled order's captured money goes back, all that is left of it."""
    if payment.refundable > 0:
        _refund(order=order, payment=payment, amount=payment.refundable, method=None,
                reason="order cancelled", actor=None)  # fmt: skip


def payment_refund(
    *,
    order: Order,
    amount: Decimal | None,
    reason: str,
    method: str | None,
    actor: User | None,
) -> Refund:
    """Give money back on the order's captured payment (SPEC §8); the order is locked here.

    `amount` defaults to what is left; more than captured - refunded is 400
    `refund_exceeds_paid`, nothing captured is 409 `not_refundable`. A card is
    refunded at its provider (idempotency key from the order number and the
    refund's rank); cash on delivery records `method` cash or bank_transfer.
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        payment = _locked_payment(locked)
        if payment is None or payment.status != P.SUCCEEDED or payment.refundable <= 0:
            raise NotRefundable(
                "Nothing was paid on this order that could be refunded."
                if payment is None or payment.amount_captured <= 0
                else "This order was refunded in full already.",
                extra={"payment_status": locked.payment_status},
            )
        amount = payment.refundable if amount is None else amount
        if amount > payment.refundable:
            message = f"At most {payment.refundable} {locked.currency} can be refunded."
            raise RefundTooLarge(
                message,
                errors={"amount": [message]},
                extra={"refundable": str(payment.refundable)},
            )
        return _refund(
            order=locked, payment=payment, amount=amount, method=method, reason=reason, actor=actor
        )


def _refund(
    *,
    order: Order,
    payment: Payment,
    amount: Decimal,
    method: str | None,
    reason: str,
    actor: User | None,
) -> Refund:
    provider = provider_of(payment)
    if provider.needs_customer:
        if method not in (None, RefundMethod.CARD):
            message = "A card payment is refunded to the card."
            raise InvalidInput(message, errors={"method": [message]})
        method = RefundMethod.CARD
    elif method not in (RefundMethod.CASH, RefundMethod.BANK_TRANSFER):
        if method is not None:
            message = "A cash-on-delivery refund is paid in cash or by bank transfer."
            raise InvalidInput(message, errors={"method": [message]})
        method = RefundMethod.CASH
    # Fixed by what is refunded on top of what: a retry of a refund whose record was
    # rolled back (the provider made it) finds it; the next, different refund cannot
    # collide with it. A lost record is healed by the provider's `refund.created` event.
    done = f"{payment.refunds.count()}-{payment.amount_refunded}-{amount}"
    given = provider.refund(
        payment.provider_ref,
        amount=amount,
        currency=order.currency,
        idempotency_key=_key(payment, "refund", done),
        reason=reason,
    )
    refund = Refund.objects.create(
        payment=payment,
        amount=amount,
        method=method,
        status=given.status,
        provider_ref=given.ref,
        reason=reason[:500],
        created_by=actor,
    )
    _recount_refunds(order=order, payment=payment)
    if refund.status != RefundStatus.FAILED:
        events.payment_refunded(order, refund=refund)
    return refund


def _recount_refunds(*, order: Order, payment: Payment) -> None:
    """`amount_refunded` is the sum of refunds that did not fail."""
    total = sum((r.amount for r in payment.refunds.exclude(status=RefundStatus.FAILED)), ZERO)
    payment.amount_refunded = min(total, payment.amount_captured)
    payment.save(update_fields=["amount_refunded", "updated_at"])
    _derive(order, payment)


def refund_sync(*, order: Order, payment: Payment, given: ProviderRefund) -> Refund | None:
    """A refund the provider reports (order locked): update ours, or record one made there."""
    refund = Refund.objects.filter(provider_ref=given.ref).first()
    if refund is None:
        if given.status == RefundStatus.FAILED or payment.refundable <= 0:
            return None
        refund = Refund.objects.create(
            payment=payment,
            amount=min(given.amount, payment.refundable),
            method=RefundMethod.CARD,
            status=given.status,
            provider_ref=given.ref,
            reason="refunded at the provider",
        )
        _recount_refunds(order=order, payment=payment)
        events.payment_refunded(order, refund=refund)
        return refund
    final = refund.status == RefundStatus.FAILED or given.status == RefundStatus.PENDING
    if refund.status != given.status and not final:  # pending → succeeded/failed → failed
        refund.status = given.status
        refund.save(update_fields=["status", "updated_at"])
        _recount_refunds(order=order, payment=payment)
    return refund
