"""The manager's own notifications (manager/notifications/)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from main.exceptions import NotFound
from store_manager.models import ManagerNotification, StoreManager


def manager_notification_list(
    *,
    manager: StoreManager,
    priority: str | None = None,
    is_read: bool | None = None,
    since: datetime | None = None,
) -> QuerySet[ManagerNotification]:
    """Newest first; `since`: created at or after it (catching up after a socket reconnect)."""
    queryset = ManagerNotification.objects.filter(manager=manager)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if priority:
        queryset = queryset.filter(priority=priority)
    if is_read is not None:
        queryset = queryset.filter(is_read=is_read)
    return queryset.order_by("-created_at", "-id")


def manager_notification_get(*, manager: StoreManager, notification_id: int) -> ManagerNotification:
    notification = ManagerNotification.objects.filter(manager=manager, pk=notification_id).first()
    if notification is None:
        raise NotFound("No such notification.")
    return notification


def manager_notification_unread_count(*, manager: StoreManager) -> int:
    return ManagerNotification.objects.filter(manager=manager, is_read=False).count()
