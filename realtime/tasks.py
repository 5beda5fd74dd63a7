"""Celery tasks of the real-time app: thin subscribers of the domain events.

Each reads fresh facts and publishes frames; none retries. Delivery to sockets
is at most once (SPEC §9): a frame that could not be published is logged and
dropped, and the client reads what it missed over REST. A redelivered outbox
message publishes frames with the same ids as before.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from realtime import services


@shared_task(acks_late=False)
def push_order_created(order_id: int, event_id: int, **event: Any) -> int:
    return services.push_order_created(order_id=order_id, event_id=event_id)


@shared_task(acks_late=False)
def push_order_status_changed(
    order_id: int, event_id: int, to_status: str, from_status: str | None = None, **event: Any
) -> int:
    return services.push_order_status_changed(
        order_id=order_id, event_id=event_id, from_status=from_status, to_status=to_status
    )


@shared_task(acks_late=False)
def push_return_status_changed(return_id: int, event_id: int, to_status: str, **event: Any) -> int:
    return services.push_return_status_changed(
        return_id=return_id, event_id=event_id, to_status=to_status
    )


@shared_task(acks_late=False)
def push_notification_created(notification_id: int, event_id: int, **event: Any) -> int:
    return services.push_notification_created(notification_id=notification_id, event_id=event_id)


@shared_task(acks_late=False)
def push_manager_notifications(notification_ids: list[int], event_id: int, **event: Any) -> int:
    return services.push_manager_notifications(notification_ids=notification_ids, event_id=event_id)


@shared_task(acks_late=False)
def push_stock_low(sku_ids: list[int], event_id: int, **event: Any) -> int:
    return services.push_stock_low(sku_ids=sku_ids, event_id=event_id)


@shared_task(acks_late=False)
def push_report_ready(report_id: int, event_id: int, **event: Any) -> int:
    return services.push_report_ready(report_id=report_id, event_id=event_id)


@shared_task(acks_late=False)
def recheck_sockets(user_id: int) -> None:
    """A user's account or manager row changed: its open sockets check their access.

    Raises when the channel layer is down, so the outbox sends it again.
    """
    services.sockets_recheck(user_id=user_id)
