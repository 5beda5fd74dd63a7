"""What follows an order event, queued to run after the transaction commits.

Services call `order_created` / `order_status_changed` inside their transaction;
nothing here runs unless that transaction commits. Notifications are Celery
tasks (eager without a broker); the catalogue cache is dropped when stock moved,
so product pages stop showing units that are gone (or show returned ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

from main.http_cache import catalogue_cache_invalidate
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


def order_created(order: Order) -> None:
    transaction.on_commit(catalogue_cache_invalidate)
    if _quiet.get():
        return
    order_id = order.pk

    def dispatch() -> None:
        from orders import tasks

        tasks.notify_order_created.delay(order_id)
        _recompute_snapshots(order_id)

    transaction.on_commit(dispatch)


def order_status_changed(
    order: Order, *, from_status: str, to_status: str, stock_changed: bool
) -> None:
    if stock_changed:
        transaction.on_commit(catalogue_cache_invalidate)
    if _quiet.get():
        return
    order_id = order.pk

    def dispatch() -> None:
        from orders import tasks

        tasks.notify_order_status_changed.delay(order_id, from_status, to_status)
        _recompute_snapshots(order_id)

    transaction.on_commit(dispatch)


def _recompute_snapshots(order_id: int) -> None:
    """Correct the revenue snapshots of the periods this order belongs to (SPEC §6)."""
    from store_manager.tasks import recompute_order_periods

    recompute_order_periods.delay(order_id)
