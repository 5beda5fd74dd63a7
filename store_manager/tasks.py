"""Celery tasks of the manager side: thin, idempotent, calling services.

They take ids and market codes (JSON-serialisable), never model instances,
and can run twice or late without changing the result: every snapshot and
report is recomputed from the orders and upserted.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from celery import shared_task

from orders.models import OrderStatus
from orders.selectors import order_event_get
from store_manager.models import ManagerNotification
from store_manager.services.notifications import notify_managers
from store_manager.services.reports import (
    ReportDeliveryError,
    daily_report_build,
    daily_report_refresh_for_order,
    daily_report_send,
    reports_to_deliver,
)
from store_manager.services.snapshots import (
    snapshots_after_midnight,
    snapshots_for_order,
    snapshots_last_hour,
)

logger = logging.getLogger("marque.analytics")

# Long jobs are acknowledged after they finish (settings: task_acks_late), so a
# worker killed mid-run hands the job to another worker; that is safe because
# every task here is idempotent.


@shared_task(acks_late=True)
def recompute_order_periods(order_id: int, **event: Any) -> int:
    """Recompute the hour, day, week and month snapshots an order belongs to.

    Subscribed to order.created and order.status_changed (SPEC §6), to
    payment.refunded (`refunded_amount`, `net_revenue`) and to
    return.status_changed (`returns_count`; it carries the return's `order_id`).
    A daily report already built for the order's day gets its figures
    refreshed too (it is not e-mailed again). Idempotent: everything is
    recomputed from the orders.
    """

    written = snapshots_for_order(order_id=order_id)
    daily_report_refresh_for_order(order_id=order_id)
    return written


@shared_task(acks_late=True)
def notify_managers_of_new_order(order_id: int, event_id: int, **event: Any) -> int:
    """order.created: the market's opted-in managers hear of it (once per manager and event)."""
    found = order_event_get(order_id=order_id, event_id=event_id)
    if found is None:
        return 0
    order, _ = found
    return notify_managers(
        market=order.market,
        type=ManagerNotification.Type.NEW_ORDER,
        title=f"New order {order.order_number}",
        message=f"{order.total} {order.currency}, {order.shipping_city}",
        data=_order_data(order) | {"total": str(order.total)},
        event_id=event_id,
    )


@shared_task(acks_late=True)
def notify_managers_of_cancellation(
    order_id: int, event_id: int, to_status: str | None = None, **event: Any
) -> int:
    """order.status_changed to cancelled: a high-priority notice to the market's managers."""
    if to_status != OrderStatus.CANCELLED:
        return 0
    found = order_event_get(order_id=order_id, event_id=event_id)
    if found is None or found[1].to_status != OrderStatus.CANCELLED:
        return 0
    order, history = found
    return notify_managers(
        market=order.market,
        type=ManagerNotification.Type.ORDER_CANCELLED,
        priority=ManagerNotification.Priority.HIGH,
        title=f"Order {order.order_number} cancelled",
        message=history.note,
        data=_order_data(order) | {"from_status": history.from_status},
        event_id=event_id,
    )


def _order_data(order) -> dict[str, str]:
    return {"order_number": order.order_number, "market": order.market}


@shared_task(acks_late=True)
def snapshot_last_hour() -> int:
    """Hourly: upsert the last closed hour of every market."""
    return snapshots_last_hour()


@shared_task(acks_late=True)
def snapshot_after_midnight(market: str) -> str:
    """After `market`'s local midnight: snapshots (with the reconcile), then the reports.

    Builds yesterday's report after the snapshots in the same task so it
    always follows them (SPEC §6) without relying on two beat times, then
    queues the delivery of yesterday's report and of any report of the last
    days that was built but never fully delivered (a mail outage heals the
    next night).
    """
    day = snapshots_after_midnight(market=market)
    daily_report_build(market=market, report_date=day)
    for report_date in reports_to_deliver(market=market, last_day=day):
        send_daily_report.delay(market, report_date.isoformat())
    logger.info("Closed %s %s: snapshots and daily report", market, day)
    return day.isoformat()


# Delivery retries: 2 and 4 minutes after a failed e-mail, then every 5 minutes, about
# an hour in all; after that the next nightly run tries again for RESEND_DAYS days.
# No countdown may exceed the broker's visibility timeout (settings): Redis would hand
# a task still waiting for its countdown to a second worker.
REPORT_MAX_RETRIES = 13
REPORT_RETRY_BASE = 120
REPORT_RETRY_MAX = 300


@shared_task(bind=True, acks_late=True, max_retries=REPORT_MAX_RETRIES)
def send_daily_report(self, market: str, report_date: str) -> int:
    """Build (or rebuild) one daily report and deliver it to whoever has not had it.

    Retried with exponential backoff when an e-mail fails; a retry sends only to
    the recipients whose e-mail failed (services.reports.daily_report_send).
    """
    report = daily_report_build(market=market, report_date=date.fromisoformat(report_date))
    try:
        return daily_report_send(report=report)
    except ReportDeliveryError as exc:
        countdown = min(REPORT_RETRY_BASE * 2**self.request.retries, REPORT_RETRY_MAX)
        raise self.retry(exc=exc, countdown=countdown) from exc
