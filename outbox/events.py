"""Domain events: one explicit dispatcher, built on the transactional outbox.

An app that owns a change *declares* the events it announces and *publishes*
them inside the transaction of the change::

    ORDER_CREATED = declare("order.created", "An order was placed.", payload=("order_id",))
    ...
    ORDER_CREATED.publish(event_id=history.pk, order_id=order.pk)

An app that cares *subscribes* a Celery task in its own `AppConfig.ready()`::

    ORDER_CREATED.subscribe(tasks.notify_managers_of_new_order)

Publishing writes one outbox message per subscriber in the caller's
transaction (one INSERT), so each subscriber runs exactly when the change
committed, and a broker outage delays it without losing it. Subscribers are
called with keyword arguments: `event_id` (unique per event; the key that makes
a subscriber idempotent, since a message can be delivered twice) and the
event's payload. The publisher never imports its subscribers: imports flow
one way, reactions flow back through here.

`registry()` lists every event with its subscribers; docs/EVENTS.md is that
list, and a test keeps the two equal.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from outbox.services import outbox_publish_all

_quiet: ContextVar[bool] = ContextVar("domain_events_quiet", default=False)
_REGISTRY: dict[str, DomainEvent] = {}


@dataclass
class DomainEvent:
    name: str
    description: str
    payload: tuple[str, ...]
    subscribers: list[str] = field(default_factory=list)
    urgent: set[str] = field(default_factory=set)

    def subscribe(self, task: Any, *, first: bool = False) -> None:
        """Run Celery `task(event_id=…, **payload)` after every commit that publishes this.

        Messages are handed to the broker in subscription order, and workers take
        them in that order; `first=True` puts this one before the others (someone
        is watching a screen for it: a socket frame), ahead of slower reactions.
        """
        name = getattr(task, "name", task)
        if name in self.subscribers:
            return
        if first:
            ahead = sum(1 for other in self.subscribers if other in self.urgent)
            self.subscribers.insert(ahead, name)
            self.urgent.add(name)
        else:
            self.subscribers.append(name)

    def publish(self, *, event_id: int | None = None, **payload: Any) -> None:
        """Inside the change's transaction: one outbox message per subscriber.

        An event with no row of its own to name it (a stock level crossing the
        threshold) passes no `event_id` and gets a random 62-bit one, which every
        redelivery of its messages carries unchanged.
        """
        if set(payload) != set(self.payload):
            raise TypeError(f"{self.name} carries {sorted(self.payload)}, got {sorted(payload)}")
        if _quiet.get() or not self.subscribers:
            return
        if event_id is None:
            event_id = secrets.randbits(62)
        kwargs = {"event_id": event_id, **payload}
        outbox_publish_all([(task, (), kwargs) for task in self.subscribers])


def declare(name: str, description: str, *, payload: tuple[str, ...]) -> DomainEvent:
    """The one declaration of an event (module import time, in the publishing app)."""
    if name in _REGISTRY:
        raise ValueError(f"Event {name} is declared twice")
    event = DomainEvent(name=name, description=description, payload=payload)
    _REGISTRY[name] = event
    return event


def registry() -> dict[str, DomainEvent]:
    """Every declared event, by name (after the apps are ready: with their subscribers)."""
    return dict(_REGISTRY)


@contextmanager
def quiet() -> Iterator[None]:
    """Publish nothing inside (bulk demo data and benchmarks rebuild what they need after)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)
