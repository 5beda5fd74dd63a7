"""The domain-event dispatcher: declared once, published in the transaction, one message each."""

from __future__ import annotations

import pytest
from django.db import transaction

from outbox.events import DomainEvent, declare, quiet, registry
from outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def _event(**subscribers) -> DomainEvent:
    event = DomainEvent(name="test.happened", description="", payload=("thing_id",))
    for task in subscribers.values():
        event.subscribe(task)
    return event


def test_publish_writes_one_message_per_subscriber_with_the_event_id():
    event = _event(a="app_a.tasks.react", b="app_b.tasks.react")
    event.subscribe("app_a.tasks.react")  # subscribing twice changes nothing
    with transaction.atomic():
        event.publish(event_id=41, thing_id=7)
    rows = list(OutboxMessage.objects.values_list("task", "kwargs"))
    assert rows == [
        ("app_a.tasks.react", {"event_id": 41, "thing_id": 7}),
        ("app_b.tasks.react", {"event_id": 41, "thing_id": 7}),
    ]


def test_publish_refuses_a_payload_that_is_not_the_declared_one():
    event = _event(a="app_a.tasks.react")
    with pytest.raises(TypeError, match="thing_id"):
        event.publish(event_id=1, other=2)
    assert not OutboxMessage.objects.exists()


def test_quiet_publishes_nothing():
    event = _event(a="app_a.tasks.react")
    with quiet():
        event.publish(event_id=1, thing_id=2)
    assert not OutboxMessage.objects.exists()


def test_an_event_is_declared_once():
    existing = next(iter(registry()))
    with pytest.raises(ValueError, match="declared twice"):
        declare(existing, "again", payload=())
