"""Reads of the real-time app: what a socket may hear, and the facts its frames carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from main.markets import CatalogMarket, Market
from orders.models import Order, ReturnRequest
from products.models import SKU
from realtime.groups import managers_group, user_group
from store_manager.models import DailyReport, ManagerNotification, StoreManager
from store_manager.permissions import manager_has, may_manage
from users.models import Notification, User


@dataclass(frozen=True)
class SocketScope:
    """The groups one socket belongs to, and the manager it was opened as (if any)."""

    user_id: int
    groups: frozenset[str]
    manager_id: int | None = None


def socket_scope(user_id: int) -> SocketScope | None:
    """What a user's socket receives now; None when the account is gone or deactivated.

    Everyone hears their own events. An active manager who may view orders and
    manage its active market also hears that market's manager events (with money
    only with `can_view_revenue`), its own notifications among them.
    """
    if not User.objects.filter(pk=user_id, is_active=True).exists():
        return None
    groups = {user_group(user_id)}
    manager = StoreManager.objects.filter(user_id=user_id, is_active=True).first()
    if manager is None:
        return SocketScope(user_id=user_id, groups=frozenset(groups))
    market = manager.active_market
    if manager_has(manager, "can_view_orders") and may_manage(manager, market):
        groups.add(managers_group(market, revenue=manager_has(manager, "can_view_revenue")))
    return SocketScope(user_id=user_id, groups=frozenset(groups), manager_id=manager.pk)


_ORDER_FIELDS = (
    "order_number",
    "status",
    "payment_status",
    "total",
    "currency",
    "market",
    "user_id",
)


def order_facts(order_id: int) -> dict[str, Any] | None:
    return Order.objects.filter(pk=order_id).values(*_ORDER_FIELDS).first()


def return_facts(return_id: int) -> dict[str, Any] | None:
    return (
        ReturnRequest.objects.filter(pk=return_id)
        .values("return_number", "order__order_number", "market", "user_id")
        .first()
    )


def notification_facts(notification_id: int) -> dict[str, Any] | None:
    return (
        Notification.objects.filter(pk=notification_id)
        .values("id", "user_id", "type", "title")
        .first()
    )


def manager_notification_facts(notification_ids: list[int]) -> list[dict[str, Any]]:
    return list(
        ManagerNotification.objects.filter(pk__in=notification_ids)
        .order_by("pk")
        .values("id", "manager_id", "type", "title", "priority", "data__market")
    )


def low_stock_facts(sku_ids: list[int]) -> list[dict[str, Any]]:
    """SKUs still at or below the threshold, with the markets whose managers hear of them."""
    rows = (
        SKU.objects.filter(pk__in=sku_ids, stock__lte=settings.LOW_STOCK_THRESHOLD)
        .order_by("pk")
        .values("code", "stock", "product__slug", "product__market")
    )
    return [
        {
            **row,
            "markets": (
                list(Market.values)
                if row["product__market"] == CatalogMarket.ALL
                else [row["product__market"]]
            ),
        }
        for row in rows
    ]


def report_facts(report_id: int) -> dict[str, Any] | None:
    return DailyReport.objects.filter(pk=report_id).values("market", "report_date").first()
