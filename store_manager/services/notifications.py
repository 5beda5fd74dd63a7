"""Who manages a market, the one way to tell them something (`ManagerNotification`), and
marking what they read."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from main.markets import Market
from store_manager.events import manager_notifications_created
from store_manager.models import ManagerNotification, StoreManager

Type = ManagerNotification.Type
Priority = ManagerNotification.Priority

# The ManagerSettings switch that opts a manager in to each kind of event (None: always sent).
_OPT_IN = {
    Type.NEW_ORDER: "notify_new_orders",
    Type.ORDER_CANCELLED: "notify_cancellations",
    Type.REPORT_READY: "email_reports",
}


def managers_of(market: str) -> QuerySet[StoreManager]:
    """Active managers (with an active user) who may manage `market`.

    Role admin manages both markets; anyone else the markets of its
    `can_manage_kg` / `can_manage_us` flags.
    """
    flag = {Market.KG: "can_manage_kg", Market.US: "can_manage_us"}[Market(market)]
    return StoreManager.objects.filter(
        Q(role=StoreManager.Role.ADMIN) | Q(**{flag: True}),
        is_active=True,
        user__is_active=True,
    )


def notify_managers(
    *,
    market: str,
    type: str,
    title: str,
    message: str = "",
    data: dict[str, Any] | None = None,
    priority: str = Priority.NORMAL,
    event_id: int | None = None,
) -> int:
    """Leave a notification for every manager of `market` who opted in to `type`.

    A manager without a settings row gets the defaults (opted in). One INSERT for
    all recipients. With `event_id`, a manager already notified of that event is
    skipped (a retried task sends nothing twice). Returns how many were notified.
    """
    recipients = managers_of(market)
    switch = _OPT_IN.get(type)
    if switch:
        recipients = recipients.filter(
            Q(settings__isnull=True) | Q(**{f"settings__{switch}": True})
        )
    manager_ids = list(recipients.values_list("pk", flat=True))
    rows = [
        ManagerNotification(
            manager_id=manager_id,
            type=type,
            priority=priority,
            title=title,
            message=message,
            data=data or {},
            event_id=event_id,
        )
        for manager_id in manager_ids
    ]
    if not rows:
        return 0
    if event_id is None:
        created = ManagerNotification.objects.bulk_create(rows)
        ids = [row.pk for row in created]
    else:
        # Conflicts are skipped, so the rows carry no ids: read them (a redelivered
        # event announces its notifications again; the frames' ids let a client see that).
        ManagerNotification.objects.bulk_create(rows, ignore_conflicts=True)
        ids = list(
            ManagerNotification.objects.filter(
                type=type, event_id=event_id, manager_id__in=manager_ids
            ).values_list("pk", flat=True)
        )
    manager_notifications_created(ids)
    return len(rows)


def manager_notification_mark_read(*, notification: ManagerNotification) -> ManagerNotification:
    if not notification.is_read:
        notification.is_read = True
        notification.save(update_fields=["is_read"])
    return notification


def manager_notification_mark_all_read(*, manager: StoreManager) -> int:
    """Mark every unread notification of the manager read; returns how many changed."""
    return ManagerNotification.objects.filter(manager=manager, is_read=False).update(is_read=True)
