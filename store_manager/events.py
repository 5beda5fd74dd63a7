"""The events the manager side announces (the dispatcher is `outbox.events`; docs/EVENTS.md)."""

from __future__ import annotations

from collections.abc import Collection

from outbox.events import declare
from store_manager.models import DailyReport

__all__ = (
    "MANAGER_NOTIFICATION_CREATED",
    "REPORT_READY",
    "manager_notifications_created",
    "report_ready",
)

MANAGER_NOTIFICATION_CREATED = declare(
    "manager_notification.created",
    "Managers have new notifications (one call of `notify_managers`, or a report's). "
    "`event_id` is the lowest notification id.",
    payload=("notification_ids",),
)
REPORT_READY = declare(
    "report.ready",
    "A market's daily report was built for the first time. `event_id` is the report row.",
    payload=("report_id",),
)


def manager_notifications_created(notification_ids: Collection[int]) -> None:
    if notification_ids:
        ids = sorted(notification_ids)
        MANAGER_NOTIFICATION_CREATED.publish(event_id=ids[0], notification_ids=ids)


def report_ready(report: DailyReport) -> None:
    REPORT_READY.publish(event_id=report.pk, report_id=report.pk)
