"""Celery tasks of the orders app: the customer's notifications, and clean-up.

The notification tasks subscribe to the order events (`OrdersConfig.ready`),
run after the change committed, read the order fresh and are idempotent by
the event id (the status history row).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.models import IdempotencyKey, Order, OrderStatus, Refund
from orders.selectors import order_event_get
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


def _already_told(order: Order, **marker: Any) -> bool:
    """Inside the caller's transaction, with the order row locked: is the customer's
    notification carrying `marker` already there? Two copies of one task (a redelivery
    while the first still runs) queue on the lock, and the second finds the first's."""
    Order.objects.select_for_update().filter(pk=order.pk).first()
    return Notification.objects.filter(user=order.user, **marker).exists()


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
