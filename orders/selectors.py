"""Order reads for customers: a constant number of queries whatever the page size."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from orders.models import (
    Order,
    OrderItem,
    OrderStatusHistory,
    Payment,
    Refund,
    ReturnItem,
    ReturnRequest,
    ReturnStatusHistory,
)


def order_list(*, user, status: str | None = None) -> QuerySet[Order]:
    """The user's orders, newest first, with their items (one extra query per page)."""
    queryset = Order.objects.filter(user=user).prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.order_by("id"))
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-id")


def order_detail(*, user, order_number: str) -> Order | None:
    """One of the user's orders with items and status history; None if it is not theirs."""
    return (
        Order.objects.filter(user=user, order_number=order_number)
        .prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.order_by("id")),
            Prefetch(
                "status_history",
                queryset=OrderStatusHistory.objects.order_by("created_at", "id"),
            ),
            *payment_prefetch(),
        )
        .first()
    )


def order_event_get(*, order_id: int, event_id: int) -> tuple[Order, OrderStatusHistory] | None:
    """The order and the status-history row of an order event, read fresh by a subscriber.

    None when the pair does not exist (the change was rolled back, or the ids
    do not belong together): a subscriber then does nothing.
    """
    event = (
        OrderStatusHistory.objects.select_related("order__user")
        .filter(pk=event_id, order_id=order_id)
        .first()
    )
    return (event.order, event) if event else None


def payment_prefetch() -> tuple[Prefetch, ...]:
    """The payments of an order with their refunds, for its `payment` block (2 queries)."""
    return (
        Prefetch("payments", queryset=Payment.objects.order_by("id")),
        Prefetch("payments__refunds", queryset=Refund.objects.order_by("created_at", "id")),
    )


# --------------------------------------------------------------------------- returns


def return_prefetch(*, history_actors: bool = False) -> tuple[Prefetch, ...]:
    """A return's lines (with their order items), photos and history: 3 queries."""
    history = ReturnStatusHistory.objects.order_by("created_at", "id")
    if history_actors:
        history = history.select_related("changed_by")
    return (
        Prefetch(
            "items",
            queryset=ReturnItem.objects.select_related("order_item").order_by("id"),
        ),
        "images",
        Prefetch("status_history", queryset=history),
    )


def return_queryset() -> QuerySet[ReturnRequest]:
    return ReturnRequest.objects.select_related("order", "replacement_order")


def return_list(*, user, status: str | None = None) -> QuerySet[ReturnRequest]:
    """The user's returns, newest first, with their lines (constant queries per page)."""
    queryset = return_queryset().filter(user=user).prefetch_related(*return_prefetch())
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-id")


def return_detail(*, user, return_number: str) -> ReturnRequest | None:
    """One of the user's returns; None if it is not theirs."""
    return (
        return_queryset()
        .filter(user=user, return_number=return_number)
        .prefetch_related(*return_prefetch())
        .first()
    )


def return_event_get(
    *, return_id: int, event_id: int
) -> tuple[ReturnRequest, ReturnStatusHistory] | None:
    """The return and the history row of a `return.status_changed` event, read fresh."""
    event = (
        ReturnStatusHistory.objects.select_related(
            "return_request__order", "return_request__user", "return_request__replacement_order"
        )
        .filter(pk=event_id, return_request_id=return_id)
        .first()
    )
    return (event.return_request, event) if event else None
