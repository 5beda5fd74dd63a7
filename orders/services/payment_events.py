"""Orders: what the payment providers tell us, and what time does to unpaid orders (SPEC §8).

* `webhook_receive`: a signed provider event, applied at most once (its id is
  stored in the transaction that applies it), in any order (`payment_sync`
  keeps the newest state), under the order row lock;
* `payment_hold_expire`: an unpaid card order past `expires_at` is cancelled
  (note `payment_expired`), its stock returns and its intent is cancelled;
* `payment_authorized_late`: an authorisation for an order that is no longer
  waiting for it brings an expired order back if its stock is still there,
  else releases the money: never an order shipped without stock, never money
  held for a cancelled order;
* `payments_reconcile`: payments whose webhook is overdue are fetched from
  the provider and applied as if their event had arrived.

Every path that changes an order serialises on its row (`select_for_update`),
like the status machine, so the webhook, the expiry task, a customer's cancel
and a manager's change queue behind each other.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from main.exceptions import ApplicationError, NotFound
from orders.models import Order, OrderStatus, Payment, PaymentState, ProviderEvent
from orders.payments.providers import Intent, WebhookEvent, provider_named
from orders.services import payments
from orders.services.transitions import order_transition

logger = logging.getLogger("marque.payments")

P = PaymentState


class PaymentNotFound(NotFound):
    default_detail = "No order of ours has this payment."


# --------------------------------------------------------------------------- webhooks


def webhook_receive(*, provider_name: str, body: bytes, signature: str) -> str:
    """Verify and apply one webhook. Returns what happened: applied, replayed or ignored.

    A bad signature is 400 `signature_invalid` and changes nothing; an event
    about a payment we do not have is 404; an unknown type is ignored (200).
    """
    provider = provider_named(provider_name)
    event = provider.parse_webhook(body, signature)
    ref = event.intent.ref if event.intent else event.refund.payment_ref if event.refund else ""
    if not ref:
        return "ignored"
    # By the intent id we stored only: an event can be about an intent only once its
    # client secret was handed out, and we store the id before handing it out.
    payment = (
        Payment.objects.select_related("order")
        .filter(provider=provider.name, provider_ref=ref)
        .first()
    )
    if payment is None:
        raise PaymentNotFound(f"No payment {ref} here.")
    try:
        with transaction.atomic():
            order, payment = _locked(payment)
            if ProviderEvent.objects.filter(provider=provider.name, event_id=event.id).exists():
                return "replayed"
            ProviderEvent.objects.create(
                provider=provider.name,
                event_id=event.id,
                type=event.type,
                payment=payment,
                created_at=event.created,
            )
            _apply(order=order, payment=payment, event=event)
    except IntegrityError:
        # The same event delivered twice at once: the other delivery applied it.
        if ProviderEvent.objects.filter(provider=provider.name, event_id=event.id).exists():
            return "replayed"
        raise
    return "applied"


def _locked(payment: Payment) -> tuple[Order, Payment]:
    """The payment's order and the payment, read again with their rows locked (order first,
    as every path that changes an order locks it)."""
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    locked.order = order
    return order, locked


def _apply(*, order: Order, payment: Payment, event: WebhookEvent) -> None:
    if event.intent is not None:
        if event.intent.currency != order.currency:
            logger.error(
                "Event %s: currency %s on a %s order",
                event.id,
                event.intent.currency,
                order.currency,
            )
            return
        payments.payment_sync(order=order, payment=payment, intent=event.intent, at=event.created)
        settle(order=order, payment=payment)
    elif event.refund is not None and payment.status == P.SUCCEEDED:
        payments.refund_sync(order=order, payment=payment, given=event.refund)


def settle(*, order: Order, payment: Payment) -> None:
    """After a state was applied (order locked): money held for an order that no longer waits
    for it is dealt with. An authorisation on a cancelled order brings an expired order back
    when its stock is there; otherwise, and for any other cancelled order, it is voided. A
    pending order whose payment the provider cancelled gets a new one (and a new hold)."""
    if payment.status != P.REQUIRES_CAPTURE or order.status != OrderStatus.CANCELLED:
        waiting = payment.status in payments.AWAITING_CUSTOMER and payment.provider_ref
        if order.status == OrderStatus.CANCELLED and waiting:
            payments.payment_void(order=order, payment=payment, strict=False)
        elif order.status in payments.AWAITING_ORDER and payment.status == P.CANCELED:
            # The provider cancelled it (not us: we cancel only with the order): the
            # order waits for a new payment, under a new hold that expires like any.
            payments.payment_replace(order=order)
        return
    if _expired(order):
        try:
            order_transition(
                order=order,
                to_status=OrderStatus.PENDING,
                actor=None,
                note="payment authorised after the hold expired",
                by_manager=True,
            )
            return
        except ApplicationError as error:  # out of stock: release the money instead
            logger.info("Late authorisation for %s voided: %s", order, error.detail)
    payments.payment_void(order=order, payment=payment, strict=False)


def _expired(order: Order) -> bool:
    """Cancelled by the hold expiry (the system, with its note), not by anyone who typed it."""
    last = order.status_history.filter(to_status=OrderStatus.CANCELLED).order_by("-id").first()
    return last is not None and last.changed_by_id is None and last.note == payments.PAYMENT_EXPIRED


# --------------------------------------------------------------------------- hold expiry


def expired_holds(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of pending orders whose card payment still waits for the customer past its hold."""
    now = now or timezone.now()
    return list(
        Payment.objects.filter(
            status__in=payments.AWAITING_CUSTOMER,
            expires_at__lt=now,
            order__status=OrderStatus.PENDING,
        )
        .order_by("expires_at")
        .values_list("order_id", flat=True)[:limit]
    )


def payment_hold_expire(order_id: int) -> bool:
    """Cancel one unpaid card order whose hold ran out; returns whether it was cancelled.

    The intent is read from the provider first (outside any lock): an
    authorisation whose webhook is late is applied instead of expiring.
    """
    payment = (
        Payment.objects.select_related("order")
        .filter(order_id=order_id)
        .exclude(status=P.CANCELED)
        .first()
    )
    if payment is None:
        return False
    fresh = _fetch(payment)
    with transaction.atomic():
        order, payment = _locked(payment)
        if fresh is not None:
            payments.payment_sync(order=order, payment=payment, intent=fresh, at=_read_at())
        if (
            order.status != OrderStatus.PENDING
            or payment.status not in payments.AWAITING_CUSTOMER
            or payment.expires_at is None
            or payment.expires_at >= timezone.now()
        ):
            return False
        order_transition(
            order=order, to_status=OrderStatus.CANCELLED, actor=None, note=payments.PAYMENT_EXPIRED
        )
    return True


def _read_at() -> datetime:
    """When a state we just read from the provider holds: now, to the whole second, so it
    counts as newer than every event created before it and no newer than one of the same
    second (the provider stamps events in whole seconds)."""
    return timezone.now().replace(microsecond=0)


def _fetch(payment: Payment) -> Intent | None:
    if not payment.provider_ref:
        return None
    try:
        return provider_named(payment.provider).retrieve(
            payment.provider_ref, currency=payment.order.currency
        )
    except ApplicationError as error:  # unreachable or refused: try again next run
        logger.warning("Could not read payment %s: %s", payment.pk, error)
        return None


# --------------------------------------------------------------------------- reconciliation


def overdue_payments(
    *, created_from: datetime | None = None, created_to: datetime | None = None
) -> list[int]:
    """Payments whose provider state we may be missing.

    Without a range: open intents not heard of for `PAYMENT_RECONCILE_AFTER_MINUTES`,
    and intents of cancelled orders not yet cancelled. With a range: every
    provider payment created in it that is not cancelled.
    """
    queryset = Payment.objects.exclude(provider_ref="").exclude(status=P.CANCELED)
    if created_from is not None:
        queryset = queryset.filter(created_at__gte=created_from)
    if created_to is not None:
        queryset = queryset.filter(created_at__lt=created_to)
    if created_from is None and created_to is None:
        quiet_since = timezone.now() - timedelta(minutes=settings.PAYMENT_RECONCILE_AFTER_MINUTES)
        open_states = [*payments.AWAITING_CUSTOMER, P.PROCESSING]
        queryset = queryset.filter(
            Q(status__in=open_states, updated_at__lt=quiet_since)
            | Q(order__status=OrderStatus.CANCELLED, status__in=[*open_states, P.REQUIRES_CAPTURE])
            # A capture made by a change that was then rolled back (a bulk change that
            # failed on a later order) is found while the order waits to ship.
            | Q(
                order__status=OrderStatus.PROCESSING,
                status=P.REQUIRES_CAPTURE,
                updated_at__lt=quiet_since,
            )
        )
    return list(queryset.order_by("id").values_list("id", flat=True))


def payment_reconcile(payment_id: int) -> bool:
    """Fetch one payment from its provider and apply it; returns whether its status moved."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    fresh = _fetch(payment)
    if fresh is None:
        return False
    with transaction.atomic():
        order, payment = _locked(payment)
        moved = payments.payment_sync(order=order, payment=payment, intent=fresh, at=_read_at())
        settle(order=order, payment=payment)
    return moved


def payments_reconcile(
    *, created_from: datetime | None = None, created_to: datetime | None = None
) -> dict[str, int]:
    """Reconcile every overdue payment (or every payment of a range); counts what happened."""
    checked = moved = 0
    for payment_id in overdue_payments(created_from=created_from, created_to=created_to):
        checked += 1
        try:
            moved += payment_reconcile(payment_id)
        except ApplicationError as error:
            logger.warning("Reconciling payment %s failed: %s", payment_id, error.detail)
    return {"checked": checked, "moved": moved}
