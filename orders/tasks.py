"""Celery tasks of the orders app: notifications after order events, and clean-up.

Each is queued by `orders.events` after the transaction commits and reads the
order fresh, so a task never acts on a change that was rolled back.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from orders.models import IdempotencyKey, Order, OrderStatus, OrderStatusHistory
from store_manager.models import ManagerNotification
from store_manager.notifications import notify_managers
from users.models import Notification
from users.services import notify_user
from users.tasks import send_sms_task

# What the customer is told on each status; shipped and delivered also go by SMS.
CUSTOMER_MESSAGES = {
    OrderStatus.PENDING: "We received your order {number}.",
    OrderStatus.CONFIRMED: "Your order {number} is confirmed.",
    OrderStatus.PROCESSING: "Your order {number} is being prepared.",
    OrderStatus.SHIPPED: "Your order {number} is on its way.",
    OrderStatus.DELIVERED: "Your order {number} was delivered. Enjoy!",
    OrderStatus.CANCELLED: "Your order {number} was cancelled.",
}
SMS_STATUSES = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})


def _notify_customer(order: Order, status: str, event_id: int) -> None:
    """One in-app message per status change (a redelivered task finds it and stops)."""
    if Notification.objects.filter(user=order.user, data__event=event_id).exists():
        return
    body = CUSTOMER_MESSAGES[status].format(number=order.order_number)
    notify_user(
        user=order.user,
        type=Notification.Type.ORDER_STATUS,
        title=f"Order {order.order_number}: {OrderStatus(status).label.lower()}",
        body=body,
        data={"order_number": order.order_number, "status": status, "event": event_id},
    )
    if status in SMS_STATUSES and order.user.is_active:
        send_sms_task.delay(order.user.phone, f"MARQUE: {body}")


def _notify_managers(order: Order, event_id: int, **message) -> None:
    """The market's opted-in managers; once per manager and event, however often it runs."""
    data = {"order_number": order.order_number, "market": order.market}
    notify_managers(
        market=order.market, data=data | message.pop("data", {}), event_id=event_id, **message
    )


def _event(order_id: int, event_id: int) -> tuple[Order, OrderStatusHistory] | None:
    event = (
        OrderStatusHistory.objects.select_related("order__user")
        .filter(pk=event_id, order_id=order_id)
        .first()
    )
    return (event.order, event) if event else None


@shared_task(acks_late=True)
def notify_order_created(order_id: int, event_id: int) -> None:
    """Tell the customer the order was received and the market's managers that it exists.

    Idempotent: keyed by the order's creation history row (`event_id`).
    """
    found = _event(order_id, event_id)
    if found is None:
        return
    order, _ = found
    _notify_customer(order, OrderStatus.PENDING, event_id)
    _notify_managers(
        order,
        event_id,
        type=ManagerNotification.Type.NEW_ORDER,
        title=f"New order {order.order_number}",
        message=f"{order.total} {order.currency}, {order.shipping_city}",
        data={"total": str(order.total)},
    )


@shared_task(acks_late=True)
def notify_order_status_changed(order_id: int, event_id: int) -> None:
    """Tell the customer about the new status; a cancellation also reaches the managers.

    Idempotent: keyed by the status history row of the change (`event_id`).
    """
    found = _event(order_id, event_id)
    if found is None:
        return
    order, event = found
    _notify_customer(order, event.to_status, event_id)
    if event.to_status == OrderStatus.CANCELLED:
        _notify_managers(
            order,
            event_id,
            type=ManagerNotification.Type.ORDER_CANCELLED,
            priority=ManagerNotification.Priority.HIGH,
            title=f"Order {order.order_number} cancelled",
            message=event.note,
            data={"from_status": event.from_status},
        )


@shared_task
def delete_expired_idempotency_keys() -> int:
    """Daily: forget Idempotency-Keys older than their TTL."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
