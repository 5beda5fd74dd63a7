"""Every frame a socket can receive: its type, its `data` fields and who receives it.

The one list. The ticket endpoint's schema description renders it (so Swagger
UI shows the event reference), docs/REALTIME.md's table is checked against it,
and the tests check every frame they receive against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameSpec:
    type: str
    fields: tuple[str, ...]
    audience: str
    money: tuple[str, ...] = ()  # fields sent only to managers with can_view_revenue


MANAGERS = "the managers of the order's market (active market, `can_view_orders`)"

FRAMES: tuple[FrameSpec, ...] = (
    FrameSpec("notification.created", ("id", "type", "title"), "the customer it is for"),
    FrameSpec(
        "order.status_changed", ("order_number", "status", "payment_status"), "the order's customer"
    ),
    FrameSpec(
        "order.status_changed",
        ("order_number", "status", "from_status", "payment_status"),
        MANAGERS,
    ),
    FrameSpec(
        "order.created", ("order_number", "status", "currency", "total"), MANAGERS, ("total",)
    ),
    FrameSpec(
        "order.cancelled", ("order_number", "status", "currency", "total"), MANAGERS, ("total",)
    ),
    FrameSpec(
        "stock.low",
        ("sku_code", "product_slug", "stock", "low_stock"),
        "the managers of every market the product sells in",
    ),
    FrameSpec(
        "return.status_changed",
        ("return_number", "order_number", "status"),
        "the return's customer, and the managers of the return's market (active market, "
        "`can_view_orders`)",
    ),
    FrameSpec("report.ready", ("date",), "the managers of the report's market"),
    FrameSpec(
        "manager_notification.created",
        ("id", "type", "title", "priority"),
        "the manager it is addressed to, on sockets of the notification's market",
    ),
)


def allowed_fields(type: str) -> frozenset[str]:
    """Every `data` field a frame of `type` may carry (empty: no such frame)."""
    return frozenset(field for spec in FRAMES if spec.type == type for field in spec.fields)


def markdown_table() -> str:
    rows = [
        "| type | `data` | who receives it |",
        "| --- | --- | --- |",
        *(
            f"| `{spec.type}` | "
            + ", ".join(
                f"`{field}`" + (" (with `can_view_revenue` only)" if field in spec.money else "")
                for field in spec.fields
            )
            + f" | {spec.audience} |"
            for spec in FRAMES
        ),
    ]
    return "\n".join(rows)
