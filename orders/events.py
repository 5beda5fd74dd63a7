"""What follows an order event, queued to run after the transaction commits.

Services call `order_created` / `order_status_changed` inside their transaction;
nothing here runs unless that transaction commits. Notifications and snapshot
recomputes are Celery tasks (eager without a broker), each queued by its own
*robust* callback: the order is already committed, so a broker outage or a
failing task is logged and never turns a placed order into an error response.
(The catalogue cache is the stock module's business: see `orders.stock`.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial

from django.db import transaction

from orders.models import Order

_quiet: ContextVar[bool] = ContextVar("order_events_quiet", default=False)


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
    _after_commit("notify_order_created", order.pk, event_id)


def order_status_changed(order: Order, *, event_id: int) -> None:
    """`event_id`: the history row of this change."""
    _after_commit("notify_order_status_changed", order.pk, event_id)


def _after_commit(notify_task: str, order_id: int, event_id: int) -> None:
    """Queue the notification task and the snapshot recompute, each robustly, on commit."""
    if _quiet.get():
        return

    def notify() -> None:
        from orders import tasks

        getattr(tasks, notify_task).delay(order_id, event_id)

    transaction.on_commit(notify, robust=True)
    transaction.on_commit(partial(_recompute_snapshots, order_id), robust=True)


def _recompute_snapshots(order_id: int) -> None:
    """Correct the revenue snapshots of the periods this order belongs to (SPEC §6)."""
    from store_manager.tasks import recompute_order_periods

    recompute_order_periods.delay(order_id)
