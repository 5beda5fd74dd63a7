"""Celery tasks of the orders app: the customer's notifications, and clean-up.

The notification tasks subscribe to the order and return events
(`OrdersConfig.ready`), run after the change committed, read the order (or
return) fresh and are idempotent by the event id (the status history row).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.models import IdempotencyKey, Order, OrderStatus, Refund, ReturnStatus
from orders.selectors import order_event_get, return_event_get
from orders.services import payment_events
from orders.services.payments import PAYMENT_EXPIRED
from outbox.services import outbox_publish
from users.models import Notification
from users.services.accounts import notify_user
from users.sms import send_sms_task

# What the customer is told on each status; shipped and delivered also go by SMS.
CUSTOMER_MESSAGES = {
    OrderStatus.PENDING: "We received your order {number}.",
    OrderStatus.CONFIRMED: "Your order {number} is confirmed.",
    OrderStatus.PROCESSING: "Your order {number} is being prepared.",
    OrderStatus.SHIPPED: "Your order {number} is on its way.",
    OrderStatus.DELIVERED: "Your order {number} was delivered. Enjoy!",
    OrderStatus.CANCELLED: "Your order {number} was cancelled.",
}
# The cancellation the hold expiry makes says why.
EXPIRED_MESSAGE = "Your order {number} was cancelled: the card payment did not arrive in time."
SMS_STATUSES = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})
SEND_SMS = send_sms_task.name

# What the customer is told at each step of a return (SPEC §10); `{reason}`, `{amount}` and
# `{replacement}` are filled in from the return.
RETURN_TITLES = {
    ReturnStatus.REQUESTED: "Return {number}: request received",
    ReturnStatus.APPROVED: "Return {number}: approved",
    ReturnStatus.REJECTED: "Return {number}: not accepted",
    ReturnStatus.CANCELLED: "Return {number}: cancelled",
    ReturnStatus.RECEIVED: "Return {number}: parcel received",
    ReturnStatus.REFUNDED: "Return {number}: refunded",
    ReturnStatus.EXCHANGED: "Return {number}: exchange on its way",
}
RETURN_MESSAGES = {
    ReturnStatus.REQUESTED: "We received your return request {number} for order {order}. "
    "We will look at it and let you know.",
    ReturnStatus.APPROVED: "Your return {number} is approved. Pack the items you are sending "
    "back, mark the parcel with {number} and send it to us; we refund or ship your exchange "
    "once it arrives.",
    ReturnStatus.REJECTED: "Your return {number} was not accepted: {reason}",
    ReturnStatus.CANCELLED: "Your return {number} was cancelled. Nothing will be collected "
    "or refunded.",
    ReturnStatus.RECEIVED: "We received the parcel of your return {number}. Your refund or "
    "exchange follows.",
    ReturnStatus.REFUNDED: "We refunded {amount} {currency} for your return {number} "
    "(order {order}).",
    ReturnStatus.EXCHANGED: "Your exchange for return {number} ships in order {replacement}.",
}
# A return settled with a refund of 0 (nothing arrived, or the order was refunded already).
SETTLED_MESSAGE = "Your return {number} is closed with no refund: {reason}"
NO_REASON = "contact us if you would like to know more."


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _already_told(order: Order, **marker: Any) -> bool:
    """Inside the caller's transaction, with the order row locked: is the customer's
    notification carrying `marker` already there? Two copies of one task (a redelivery
    while the first still runs) queue on the lock, and the second finds the first's."""
    Order.objects.select_for_update().filter(pk=order.pk).first()
    return Notification.objects.filter(user_id=order.user_id, **marker).exists()


def _notify_customer(order: Order, status: str, event_id: int, note: str = "") -> None:
    """One in-app message (and, for some statuses, one SMS) per status change.

    In one transaction, with the order row locked: two copies of the task (a
    redelivery while the first still runs) queue here, and the second finds
    the notification and stops. The SMS goes through the outbox in the same
    transaction, so it exists exactly when the notification does: a broker
    failure or a killed worker between the two can no longer lose it.
    """
    with transaction.atomic():
        if _already_told(order, data__event=event_id):
            return
        expired = status == OrderStatus.CANCELLED and note == PAYMENT_EXPIRED
        message = EXPIRED_MESSAGE if expired else CUSTOMER_MESSAGES[status]
        body = message.format(number=order.order_number)
        notify_user(
            user=order.user,
            type=Notification.Type.ORDER_STATUS,
            title=f"Order {order.order_number}: {OrderStatus(status).label.lower()}",
            body=body,
            data={"order_number": order.order_number, "status": status, "event": event_id},
        )
        if status in SMS_STATUSES and order.user.is_active:
            outbox_publish(SEND_SMS, order.user.phone, f"MARQUE: {body}")


@shared_task(acks_late=True)
def notify_order_created(order_id: int, event_id: int, **event: Any) -> None:
    """order.created: tell the customer the order was received (once per event)."""
    found = order_event_get(order_id=order_id, event_id=event_id)
    if found is None:
        return
    order, _ = found
    _notify_customer(order, OrderStatus.PENDING, event_id)


@shared_task(acks_late=True)
def notify_order_status_changed(order_id: int, event_id: int, **event: Any) -> None:
    """order.status_changed: tell the customer about the new status (once per event)."""
    found = order_event_get(order_id=order_id, event_id=event_id)
    if found is None:
        return
    order, history = found
    _notify_customer(order, history.to_status, event_id, history.note)


@shared_task(acks_late=True)
def notify_return_status_changed(return_id: int, event_id: int, **event: Any) -> None:
    """return.status_changed: tell the customer where the return stands (once per event).

    Keyed by `return_event` in the notification's data, not `event`: history rows of
    returns and of orders are numbered apart, and the same number may name both.
    """
    found = return_event_get(return_id=return_id, event_id=event_id)
    if found is None:
        return
    ret, history = found
    status = history.to_status
    facts = {
        "number": ret.return_number,
        "order": ret.order.order_number,
        "reason": _sentence(history.note or ret.reject_reason or NO_REASON),
        "amount": ret.refunded_amount,
        "currency": ret.currency,
        "replacement": ret.replacement_order.order_number if ret.replacement_order else "",
    }
    data = {
        "return_number": ret.return_number,
        "order_number": ret.order.order_number,
        "status": status,
        "return_event": event_id,
    }
    if status == ReturnStatus.REFUNDED:
        data |= {"amount": str(ret.refunded_amount), "currency": ret.currency}
    if status == ReturnStatus.EXCHANGED and ret.replacement_order:
        data["replacement_order_number"] = ret.replacement_order.order_number
    with transaction.atomic():
        if _already_told(ret.order, data__return_event=event_id):
            return
        notify_user(
            user=ret.user,
            type=Notification.Type.RETURN,
            title=RETURN_TITLES[status].format(**facts),
            body=_return_message(status, ret).format(**facts),
            data=data,
        )


def _return_message(status: str, ret) -> str:
    if status == ReturnStatus.REFUNDED and ret.refunded_amount <= 0:
        return SETTLED_MESSAGE
    return RETURN_MESSAGES[status]


@shared_task
def delete_expired_idempotency_keys() -> int:
    """Daily: forget Idempotency-Keys older than their TTL."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(acks_late=True)
def notify_payment_refunded(order_id: int, refund_id: int, **event: Any) -> None:
    """payment.refunded: tell the customer how much comes back, and how (once per refund)."""
    refund = (
        Refund.objects.select_related("payment__order__user")
        .filter(pk=refund_id, payment__order_id=order_id)
        .first()
    )
    if refund is None:
        return
    order = refund.payment.order
    with transaction.atomic():
        if _already_told(order, data__refund=refund.pk):
            return
        notify_user(
            user=order.user,
            type=Notification.Type.PAYMENT,
            title=f"Order {order.order_number}: refund",
            body=f"We refunded {refund.amount} {order.currency} "
            f"({refund.get_method_display().lower()}) on your order {order.order_number}.",
            data={
                "order_number": order.order_number,
                "refund": refund.pk,
                "amount": str(refund.amount),
                "currency": order.currency,
            },
        )


@shared_task(acks_late=True)
def expire_unpaid_card_orders() -> int:
    """Every minute: cancel card orders whose payment hold ran out; their stock returns."""
    return sum(payment_events.payment_hold_expire(pk) for pk in payment_events.expired_holds())


@shared_task(acks_late=True)
def reconcile_payments() -> dict[str, int]:
    """Every 10 minutes: fetch payments whose webhook is overdue, so a lost one heals."""
    return payment_events.payments_reconcile()
