"""Celery tasks of the manager side: thin, idempotent, calling services.

They take ids and market codes (JSON-serialisable), never model instances,
and can run twice or late without changing the result: every snapshot and
report is recomputed from the orders and upserted.
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger("marque.analytics")

# Long jobs are acknowledged after they finish (settings: task_acks_late), so a
# worker killed mid-run hands the job to another worker; that is safe because
# every task here is idempotent.


@shared_task(acks_late=True)
def recompute_order_periods(order_id: int) -> int:
    """Recompute the hour, day, week and month snapshots an order belongs to.

    Queued by the orders services with `transaction.on_commit` on every order
    creation and status change (SPEC §6). A daily report already built for the
    order's day gets its figures refreshed too (it is not e-mailed again).
    """
    from store_manager.report_services import daily_report_refresh_for_order
    from store_manager.snapshot_services import snapshots_for_order

    written = snapshots_for_order(order_id=order_id)
    daily_report_refresh_for_order(order_id=order_id)
    return written


@shared_task(acks_late=True)
def snapshot_last_hour() -> int:
    """Hourly: upsert the last closed hour of every market."""
    from store_manager.snapshot_services import snapshots_last_hour

    return snapshots_last_hour()


@shared_task(acks_late=True)
def snapshot_after_midnight(market: str) -> str:
    """After `market`'s local midnight: daily/weekly/monthly snapshots, then the daily report.

    The report is built after the snapshots in the same task so it always
    follows them (SPEC §6) without relying on two beat times.
    """
    from store_manager.report_services import daily_report_build_and_send
    from store_manager.snapshot_services import snapshots_after_midnight

    day = snapshots_after_midnight(market=market)
    daily_report_build_and_send(market=market, report_date=day)
    logger.info("Closed %s %s: snapshots and daily report", market, day)
    return day.isoformat()


@shared_task(acks_late=True)
def send_daily_report(market: str, report_date: str) -> None:
    """Build (or rebuild) one daily report and e-mail it unless it was already sent."""
    from datetime import date

    from store_manager.report_services import daily_report_build_and_send

    daily_report_build_and_send(market=market, report_date=date.fromisoformat(report_date))
