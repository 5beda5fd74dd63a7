"""The events the orders app announces (the dispatcher is `outbox.events`).

Services call `order_created` / `order_status_changed` inside their
transaction. Each writes one outbox message per subscriber in that same
transaction, so the reactions exist exactly when the change does; a broker
outage delays them and loses none. Orders does not know who reacts: the apps
that care subscribe in their own `AppConfig.ready()`. docs/EVENTS.md lists
every event with its subscribers.
"""

from __future__ import annotations

from orders.models import Order
from outbox.events import declare, quiet

__all__ = (
    "ORDER_CREATED",
    "ORDER_STATUS_CHANGED",
    "PAYMENT_REFUNDED",
    "RETURN_STATUS_CHANGED",
    "order_created",
    "order_status_changed",
    "payment_refunded",
    "quiet",
    "return_status_changed",
)

ORDER_CREATED = declare(
    "order.created",
    "A customer placed an order (its checkout committed). "
    "`event_id` is the order's creation history row.",
    payload=("order_id",),
)
ORDER_STATUS_CHANGED = declare(
    "order.status_changed",
    "An order moved from one status to another (customer, manager, admin or system). "
    "`event_id` is the history row of the change.",
    payload=("order_id", "from_status", "to_status"),
)

PAYMENT_REFUNDED = declare(
    "payment.refunded",
    "Money was given back on an order (a card refund, or cash / a bank transfer recorded "
    "by a manager, or a refund made at the provider). `event_id` is the refund row.",
    payload=("order_id", "refund_id"),
)

RETURN_STATUS_CHANGED = declare(
    "return.status_changed",
    "A return was requested (`from_status` null) or moved on: approved, rejected, cancelled, "
    "received, refunded or exchanged. `event_id` is the return's history row.",
    payload=("return_id", "order_id", "from_status", "to_status"),
)


def order_created(order: Order, *, event_id: int) -> None:
    ORDER_CREATED.publish(event_id=event_id, order_id=order.pk)


def order_status_changed(order: Order, *, event_id: int, from_status: str | None) -> None:
    ORDER_STATUS_CHANGED.publish(
        event_id=event_id, order_id=order.pk, from_status=from_status, to_status=order.status
    )


def payment_refunded(order: Order, *, refund) -> None:
    PAYMENT_REFUNDED.publish(event_id=refund.pk, order_id=order.pk, refund_id=refund.pk)


def return_status_changed(ret, *, event_id: int, from_status: str | None) -> None:
    RETURN_STATUS_CHANGED.publish(
        event_id=event_id,
        return_id=ret.pk,
        order_id=ret.order_id,
        from_status=from_status,
        to_status=ret.status,
    )
