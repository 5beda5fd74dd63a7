"""What follows an order event: work for the workers, written to the outbox.

Services call `order_created` / `order_status_changed` inside their transaction.
Each writes outbox messages in that same transaction (`outbox.services`), so
the work exists exactly when the change does; after commit it is handed to
Celery, and if the broker is down then, the outbox relay sends it later. A
broker outage never turns a placed order into an error response, and no
notification or snapshot recompute is lost to it.

- order created: `orders.tasks.notify_order_created` (customer and managers
  notified, once per history row) and `store_manager.tasks.recompute_order_periods`
  (snapshots and reports, recomputed from the orders).
- status changed: `orders.tasks.notify_order_status_changed` (customer, and
  managers on a cancellation, once per history row) and the same recompute.

Tasks are named, not imported: orders does not depend on the apps that react.
(The catalogue cache is the stock module's business: see `orders.stock`.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from orders.models import Order
from outbox.services import outbox_publish_all

_quiet: ContextVar[bool] = ContextVar("order_events_quiet", default=False)

RECOMPUTE_SNAPSHOTS = "store_manager.tasks.recompute_order_periods"


@contextmanager
def quiet() -> Iterator[None]:
    """No notifications or snapshot recomputes inside (bulk demo data rebuilds them after)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


def order_created(order: Order, *, event_id: int) -> None:
    """`event_id`: the history row of the creation (it keys the notifications)."""
    _publish("orders.tasks.notify_order_created", order.pk, event_id)


def order_status_changed(order: Order, *, event_id: int) -> None:
    """`event_id`: the history row of this change."""
    _publish("orders.tasks.notify_order_status_changed", order.pk, event_id)


def _publish(notify_task: str, order_id: int, event_id: int) -> None:
    """The notification and the snapshot recompute (SPEC §6), in the caller's transaction."""
    if _quiet.get():
        return
    outbox_publish_all(
        [(notify_task, (order_id, event_id), {}), (RECOMPUTE_SNAPSHOTS, (order_id,), {})]
    )
