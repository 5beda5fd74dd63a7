"""The orders CSV export (manager/orders/export/): logged, then streamed in chunks."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from main.markets import market_config
from store_manager.models import StoreManager
from store_manager.selectors.export import EXPORT_COLUMNS, manager_export_rows
from store_manager.selectors.orders import OrderFilters
from store_manager.services.activity import Action, RequestMeta, activity_log_write


class _Echo:
    """A file-like object whose write returns the line: csv.writer → streamed chunks."""

    def write(self, value: str) -> str:
        return value


BOM = "\ufeff"


# Free text a customer typed: a spreadsheet would run it as a formula if it began
# with one of these (CSV injection), so such cells get a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CUSTOMER_TEXT = frozenset({"customer_name", "city", "address", "building", "apartment"})
_DB_NAMES = tuple(name for name, _ in EXPORT_COLUMNS)
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
        elif isinstance(value, Decimal):
            value = f"{value:.2f}"  # money, always two places (sums too, on every database)
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
    filters: OrderFilters,
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
    rows = manager_export_rows(market=market, filters=filters, now=now)
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
