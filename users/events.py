"""The events the users app announces (the dispatcher is `outbox.events`; docs/EVENTS.md)."""

from __future__ import annotations

from outbox.events import declare
from users.models import Notification

__all__ = ("NOTIFICATION_CREATED", "notification_created")

NOTIFICATION_CREATED = declare(
    "notification.created",
    "A customer has a new in-app notification. `event_id` is the notification row.",
    payload=("notification_id",),
)


def notification_created(notification: Notification) -> None:
    NOTIFICATION_CREATED.publish(event_id=notification.pk, notification_id=notification.pk)
