"""The manager audit log: the one writer of `ManagerActivityLog` rows, and their actions.

Each service that changes something on a manager's behalf (`profile`, `orders`,
`returns`, `export`) writes exactly one `ManagerActivityLog` row per changed
object through `activity_log_write`, in the same transaction as the change: an
audit row exists if and only if the change committed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from store_manager.models import ManagerActivityLog, StoreManager

USER_AGENT_MAX = 500


class Action:
    """Every `ManagerActivityLog.action` value the manager services write."""

    ORDER_STATUS_CHANGED = "order_status_changed"
    ORDER_BULK_STATUS_CHANGED = "order_bulk_status_changed"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_RESUMED = "order_resumed"
    ORDER_REFUNDED = "order_refunded"
    ORDERS_EXPORTED = "orders_exported"
    MARKET_SWITCHED = "market_switched"
    SETTINGS_CHANGED = "settings_changed"
    RETURN_APPROVED = "return_approved"
    RETURN_REJECTED = "return_rejected"
    RETURN_RECEIVED = "return_received"
    RETURN_REFUNDED = "return_refunded"

    ALL: tuple[str, ...] = (
        ORDER_STATUS_CHANGED,
        ORDER_BULK_STATUS_CHANGED,
        ORDER_CANCELLED,
        ORDER_RESUMED,
        ORDER_REFUNDED,
        ORDERS_EXPORTED,
        MARKET_SWITCHED,
        SETTINGS_CHANGED,
        RETURN_APPROVED,
        RETURN_REJECTED,
        RETURN_RECEIVED,
        RETURN_REFUNDED,
    )


@dataclass(frozen=True)
class RequestMeta:
    """Where a manager action came from: client IP and user agent, for the audit log."""

    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def of(cls, ip_address: str | None, user_agent: str | None) -> RequestMeta:
        try:
            ip = str(ipaddress.ip_address((ip_address or "").strip()))
        except ValueError:
            ip = None  # never store something that is not an address
        return cls(ip_address=ip, user_agent=(user_agent or "")[:USER_AGENT_MAX])


def activity_log_write(
    *,
    manager: StoreManager,
    action: str,
    market: str,
    meta: RequestMeta,
    object_type: str = "",
    object_id: str = "",
    description: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> ManagerActivityLog:
    """Append one audit row. The only code that creates `ManagerActivityLog` rows.

    `before`/`after` hold the changed values (JSON-ready) under `metadata`.
    """
    extra = dict(metadata or {})
    if before is not None:
        extra["before"] = before
    if after is not None:
        extra["after"] = after
    return ManagerActivityLog.objects.create(
        manager=manager,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        market=market,
        description=description,
        metadata=extra,
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
    )
