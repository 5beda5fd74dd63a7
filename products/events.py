"""The events the products app announces (the dispatcher is `outbox.events`; docs/EVENTS.md)."""

from __future__ import annotations

from collections.abc import Collection

from outbox.events import declare

__all__ = ("STOCK_LOW", "stock_low")

STOCK_LOW = declare(
    "stock.low",
    "SKUs fell to or below LOW_STOCK_THRESHOLD (a sale, or staff taking units out): "
    "each was above it before. No row names the event: `event_id` is random.",
    payload=("sku_ids",),
)


def stock_low(sku_ids: Collection[int]) -> None:
    if sku_ids:
        STOCK_LOW.publish(sku_ids=sorted(sku_ids))
