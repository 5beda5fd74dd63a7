"""Every write of the manager API, each with its activity log row.

Each service that changes something on a manager's behalf writes exactly one
`ManagerActivityLog` row per changed object through `activity_log_write`, in
the same transaction as the change: an audit row exists if and only if the
change committed. Order status changes go through `orders.services.order_transition`
(the one status machine, SPEC §4); it locks the order, writes the history and
notifies the customer, and these functions add the audit trail.
"""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from main.exceptions import ApplicationError
from main.markets import market_config
from orders.models import Order, OrderStatus
from orders.services import InvalidTransition, order_transition
from store_manager import selectors
from store_manager.models import (
    ManagerActivityLog,
    ManagerNotification,
    ManagerSettings,
    StoreManager,
)
from store_manager.permissions import may_manage

USER_AGENT_MAX = 500


class Action:
    """`ManagerActivityLog.action` values written by this module."""

    ORDER_STATUS_CHANGED = "order_status_changed"
    ORDER_BULK_STATUS_CHANGED = "order_bulk_status_changed"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_RESUMED = "order_resumed"
    ORDERS_EXPORTED = "orders_exported"
    MARKET_SWITCHED = "market_switched"
    SETTINGS_CHANGED = "settings_changed"

    ALL: tuple[str, ...] = (
        ORDER_STATUS_CHANGED,
        ORDER_BULK_STATUS_CHANGED,
        ORDER_CANCELLED,
        ORDER_RESUMED,
        ORDERS_EXPORTED,
        MARKET_SWITCHED,
        SETTINGS_CHANGED,
    )


class MarketNotPermitted(ApplicationError):
    status_code = 403
    code = "permission_denied"
    default_detail = "You may not manage that market."


class OrdersNotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_detail = "Some orders are not in your active market."


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


# --------------------------------------------------------------------------- activity log


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


# --------------------------------------------------------------------------- profile, settings


@transaction.atomic
def manager_market_switch(*, manager: StoreManager, market: str, meta: RequestMeta) -> StoreManager:
    """Make `market` the manager's active market (403 unless it may manage it)."""
    if not may_manage(manager, market):
        raise MarketNotPermitted()
    before = manager.active_market
    if before == market:
        return manager
    manager.active_market = market
    manager.full_clean(validate_unique=False, exclude=["user"])
    manager.save(update_fields=["active_market", "updated_at"])
    activity_log_write(
        manager=manager,
        action=Action.MARKET_SWITCHED,
        market=market,
        meta=meta,
        object_type="store_manager",
        object_id=str(manager.pk),
        description=f"Active market {before} → {market}",
        before={"active_market": before},
        after={"active_market": market},
    )
    return manager


def manager_settings_get(*, manager: StoreManager) -> ManagerSettings:
    """The manager's settings; the defaults (saved) if it has none yet."""
    manager_settings, _ = ManagerSettings.objects.get_or_create(manager=manager)
    return manager_settings


@transaction.atomic
def manager_settings_update(
    *, manager: StoreManager, meta: RequestMeta, **fields: Any
) -> ManagerSettings:
    """Change the manager's own settings; logs the fields that changed (nothing if none)."""
    manager_settings = manager_settings_get(manager=manager)
    before, after = {}, {}
    for name, value in fields.items():
        old = getattr(manager_settings, name)
        if old != value:
            before[name], after[name] = old, value
            setattr(manager_settings, name, value)
    if not after:
        return manager_settings
    manager_settings.full_clean(exclude=["manager"])
    manager_settings.save(update_fields=[*after, "updated_at"])
    activity_log_write(
        manager=manager,
        action=Action.SETTINGS_CHANGED,
        market=manager.active_market,
        meta=meta,
        object_type="manager_settings",
        object_id=str(manager_settings.pk),
        description=f"Settings changed: {', '.join(sorted(after))}",
        before=before,
        after=after,
    )
    return manager_settings


# --------------------------------------------------------------------------- orders


def _log_order(
    *, manager: StoreManager, action: str, order: Order, before: str, note: str, meta: RequestMeta
) -> ManagerActivityLog:
    return activity_log_write(
        manager=manager,
        action=action,
        market=order.market,
        meta=meta,
        object_type="order",
        object_id=order.order_number,
        description=f"{order.order_number}: {before} → {order.status}",
        before={"status": before},
        after={"status": order.status},
        metadata={"note": note},
    )


def _transition_logged(
    *,
    manager: StoreManager,
    order: Order,
    to_status: str,
    note: str,
    action: str,
    meta: RequestMeta,
) -> Order:
    with transaction.atomic():
        # The status before, read under the lock order_transition takes: a racing
        # change that committed first is what "before" must show.
        before = Order.objects.select_for_update().values_list("status", flat=True).get(pk=order.pk)
        order = order_transition(
            order=order, to_status=to_status, actor=manager.user, note=note, by_manager=True
        )
        _log_order(manager=manager, action=action, order=order, before=before, note=note, meta=meta)
    return order


# Statuses `…/status/` can set: cancelling and resuming have their own endpoints
# (and need `can_cancel_orders`).
STATUS_TARGETS: tuple[str, ...] = (
    OrderStatus.CONFIRMED,
    OrderStatus.PROCESSING,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
)


def manager_order_status_change(
    *, manager: StoreManager, order: Order, to_status: str, note: str = "", meta: RequestMeta
) -> Order:
    """Move an order along the pipeline (not to cancelled or back to pending)."""
    if to_status not in STATUS_TARGETS:
        raise InvalidTransition(
            "Use manager/orders/{order_number}/cancel/ or …/resume/ for that status.",
            extra={"status": order.status},
        )
    return _transition_logged(
        manager=manager,
        order=order,
        to_status=to_status,
        note=note,
        action=Action.ORDER_STATUS_CHANGED,
        meta=meta,
    )


def manager_order_cancel(
    *, manager: StoreManager, order: Order, reason: str = "", meta: RequestMeta
) -> Order:
    """Cancel an order (stock returns once); the reason becomes `cancel_reason`."""
    return _transition_logged(
        manager=manager,
        order=order,
        to_status=OrderStatus.CANCELLED,
        note=reason,
        action=Action.ORDER_CANCELLED,
        meta=meta,
    )


def manager_order_resume(
    *, manager: StoreManager, order: Order, note: str = "", meta: RequestMeta
) -> Order:
    """Bring a cancelled order back to pending, taking its stock again (409 `out_of_stock`)."""
    return _transition_logged(
        manager=manager,
        order=order,
        to_status=OrderStatus.PENDING,
        note=note,
        action=Action.ORDER_RESUMED,
        meta=meta,
    )


@transaction.atomic
def manager_order_bulk_status(
    *,
    manager: StoreManager,
    market: str,
    order_numbers: list[str],
    to_status: str,
    note: str = "",
    meta: RequestMeta,
) -> list[Order]:
    """Move several orders of `market` to `to_status`: all of them or none.

    One transaction; the orders are locked in id order (so two bulk changes over
    overlapping orders queue instead of deadlocking), every transition is checked
    by the status machine, and the first refusal rolls everything back with a
    409 naming that order. Order numbers outside `market` answer 404 (no leak).
    """
    if to_status not in STATUS_TARGETS:
        raise InvalidTransition("Bulk changes cannot cancel or resume orders.")
    numbers = list(dict.fromkeys(order_numbers))
    locked = list(
        Order.objects.select_for_update()
        .filter(market=market, order_number__in=numbers)
        .order_by("id")
    )
    missing = sorted(set(numbers) - {order.order_number for order in locked})
    if missing:
        raise OrdersNotFound(extra={"order_numbers": missing})
    changed = []
    for order in locked:
        before = order.status
        try:
            order = order_transition(
                order=order, to_status=to_status, actor=manager.user, note=note, by_manager=True
            )
        except ApplicationError as error:
            error.extra = {**error.extra, "order_number": order.order_number}
            error.detail = f"{order.order_number}: {error.detail} Nothing was changed."
            raise
        changed.append(order)
        _log_order(
            manager=manager,
            action=Action.ORDER_BULK_STATUS_CHANGED,
            order=order,
            before=before,
            note=note,
            meta=meta,
        )
    by_number = {order.order_number: order for order in changed}
    return [by_number[number] for number in numbers]


# --------------------------------------------------------------------------- export


class _Echo:
    """A file-like object whose write returns the line: csv.writer → streamed chunks."""

    def write(self, value: str) -> str:
        return value


BOM = "\ufeff"


# Free text a customer typed: a spreadsheet would run it as a formula if it began
# with one of these (CSV injection), so such cells get a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CUSTOMER_TEXT = frozenset({"customer_name", "city", "address", "building", "apartment"})
_DB_NAMES = tuple(name for name, _ in selectors.EXPORT_COLUMNS)
_CREATED_AT = _DB_NAMES.index("created_at")
# The database columns plus the creation time on the market's wall clock.
EXPORT_HEADER: tuple[str, ...] = (
    *_DB_NAMES[: _CREATED_AT + 1],
    "created_at_local",
    *_DB_NAMES[_CREATED_AT + 1 :],
)
_SANITISE = frozenset(i for i, name in enumerate(_DB_NAMES) if name in _CUSTOMER_TEXT)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _export_row(row: tuple, zone) -> list[Any]:
    cells = []
    for index, value in enumerate(row):
        if isinstance(value, datetime):
            value = _utc(value)
        elif index in _SANITISE and isinstance(value, str) and value.startswith(_FORMULA_START):
            value = "'" + value
        cells.append(value)
    created = row[_CREATED_AT]
    cells.insert(_CREATED_AT + 1, created.astimezone(zone).isoformat(timespec="seconds"))
    return cells


def manager_orders_export(
    *,
    manager: StoreManager,
    market: str,
    filters: selectors.OrderFilters,
    meta: RequestMeta,
    now: datetime | None = None,
) -> Iterator[str]:
    """Log the export, then return the CSV as an iterator of text chunks.

    UTF-8 with a BOM (spreadsheets then read Cyrillic right), a header row and
    one row per order item. Rows are read lazily from a database cursor, so the
    caller can stream 100,000 rows without holding them.
    """
    activity_log_write(
        manager=manager,
        action=Action.ORDERS_EXPORTED,
        market=market,
        meta=meta,
        object_type="order",
        description="Orders exported as CSV",
        metadata={"filters": filters.as_dict(), "format": "csv"},
    )
    rows = selectors.manager_export_rows(market=market, filters=filters, now=now)
    return _csv_chunks(rows, market=market)


def _csv_chunks(rows: Iterator[tuple], *, market: str, batch: int = 500) -> Iterator[str]:
    zone = market_config(market).time_zone
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(EXPORT_HEADER)
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow(_export_row(row, zone)))
        if len(lines) >= batch:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


# --------------------------------------------------------------------------- notifications


def manager_notification_mark_read(*, notification: ManagerNotification) -> ManagerNotification:
    if not notification.is_read:
        notification.is_read = True
        notification.save(update_fields=["is_read"])
    return notification


def manager_notification_mark_all_read(*, manager: StoreManager) -> int:
    """Mark every unread notification of the manager read; returns how many changed."""
    return ManagerNotification.objects.filter(manager=manager, is_read=False).update(is_read=True)
