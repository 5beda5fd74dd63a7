"""The audit log as the manager API shows it (manager/activity/)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import QuerySet

from store_manager import analytics
from store_manager.models import ManagerActivityLog, StoreManager


def manager_activity_list(
    *,
    manager: StoreManager,
    market: str,
    manager_id: int | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[ManagerActivityLog]:
    """Activity of the active market: every manager's for an admin, one's own otherwise."""
    queryset = ManagerActivityLog.objects.filter(market=market).select_related("manager__user")
    if manager.role != StoreManager.Role.ADMIN:
        queryset = queryset.filter(manager=manager)
    elif manager_id is not None:
        queryset = queryset.filter(manager_id=manager_id)
    if action:
        queryset = queryset.filter(action=action)
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    if date_from:
        queryset = queryset.filter(created_at__gte=analytics.local_midnight(market, date_from))
    if date_to:
        end = analytics.local_midnight(market, date_to + timedelta(days=1))
        queryset = queryset.filter(created_at__lt=end)
    return queryset.order_by("-created_at", "-id")
