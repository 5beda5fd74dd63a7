"""Publish work for the workers in the transaction of the change; relay it to Celery.

`outbox_publish("app.tasks.name", *args)` writes an `OutboxMessage` in the
caller's transaction. After commit it is handed to the broker at once; if the
broker cannot take it (outage, restart), the message stays unsent and the
`outbox.tasks.relay_outbox` beat task sends it later. So a side effect is lost
neither when the broker is down at commit time nor when a process dies between
commit and publish; a message may be delivered more than once (sent, then the
process dies before it is marked), which is why every consumer is idempotent
by its event id.

Nothing here ever raises into the request that committed: a failure to relay is
recorded on the message and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from outbox.models import OutboxMessage

logger = logging.getLogger("marque.outbox")


class UnknownTask(LookupError):
    """The message names a task that no app registers (renamed or removed)."""


def outbox_publish(task: str, *args: Any, **kwargs: Any) -> OutboxMessage:
    """Write a message for `task(*args, **kwargs)`; it is relayed after commit.

    Call it inside the transaction of the change it follows: a rollback takes
    the message with it. Arguments must be JSON (ids, strings, numbers).
    """
    return outbox_publish_all([(task, args, kwargs)])[0]


def outbox_publish_all(
    messages: Iterable[tuple[str, Sequence[Any], dict[str, Any]]],
) -> list[OutboxMessage]:
    """Several `(task, args, kwargs)` messages in one INSERT; each relayed after commit."""
    written = OutboxMessage.objects.bulk_create(
        OutboxMessage(task=task, args=list(args), kwargs=dict(kwargs))
        for task, args, kwargs in messages
    )

    def relay_after_commit() -> None:
        for message in written:
            outbox_send(message=message)

    # A named function, not a functools.partial: Django logs a robust callback's
    # failure by its __qualname__, which a partial lacks (the log call would raise).
    transaction.on_commit(relay_after_commit, robust=True)
    return written


def _task(name: str):
    tasks = current_app.tasks
    if name not in tasks:
        # A web process imports tasks modules lazily: make sure every app's are loaded.
        current_app.loader.import_default_modules()
    if name not in tasks:
        raise UnknownTask(name)
    return tasks[name]


def outbox_send(*, message: OutboxMessage) -> bool:
    """Hand one message to the broker (or run it, when eager). True when it went out.

    Never raises: a failure adds an attempt and the error text to the message.
    """
    try:
        # retry=False: with the broker down, fail now; the relay retries every minute.
        _task(message.task).apply_async(args=message.args, kwargs=message.kwargs, retry=False)
    except Exception as exc:  # broker down, unknown task, an eager task that failed
        logger.warning("Outbox message %s (%s) not sent: %r", message.pk, message.task, exc)
        try:
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=F("attempts") + 1, last_error=repr(exc)[:2000]
            )
        except Exception:  # the database is down too: the relay finds it later anyway
            logger.warning("Outbox message %s: could not record the failure", message.pk)
        return False
    try:
        OutboxMessage.objects.filter(pk=message.pk, sent_at__isnull=True).update(
            sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
        )
    except Exception:  # sent but not marked: it may be sent again (consumers are idempotent)
        logger.warning("Outbox message %s sent but not marked", message.pk)
    return True


def outbox_relay(*, batch: int | None = None) -> int:
    """Send the messages still waiting after the grace period; returns how many went out.

    The grace period (OUTBOX_RELAY_GRACE_SECONDS) leaves fresh messages to their
    own after-commit send. Rows are claimed with SKIP LOCKED on PostgreSQL, so
    two relays never send the same message at once. With a real broker, the
    first failed send ends the run (the broker is down: the rest would fail too).
    """
    batch = batch or settings.OUTBOX_RELAY_BATCH
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)
    sent = 0
    with transaction.atomic():
        waiting = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, created_at__lte=cutoff)
            .order_by("pk")[:batch]
        )
        for message in waiting:
            if outbox_send(message=message):
                sent += 1
            elif not current_app.conf.task_always_eager and _broker_failed(message):
                break
    if waiting:
        logger.info("Outbox relay: %s of %s waiting messages sent", sent, len(waiting))
    return sent


def _broker_failed(message: OutboxMessage) -> bool:
    """The last failure of `message` was the broker's (not an unknown task name)."""
    error = OutboxMessage.objects.filter(pk=message.pk).values_list("last_error", flat=True)
    return not (error.first() or "").startswith(UnknownTask.__name__)


def outbox_backlog() -> int:
    """Messages waiting longer than the grace period (shown by /readyz)."""
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)
    return OutboxMessage.objects.filter(sent_at__isnull=True, created_at__lte=cutoff).count()


def outbox_delete_sent(*, older_than_days: int | None = None) -> int:
    """Forget messages sent more than OUTBOX_KEEP_DAYS ago; returns how many."""
    days = older_than_days if older_than_days is not None else settings.OUTBOX_KEEP_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = OutboxMessage.objects.filter(sent_at__lt=cutoff).delete()
    return deleted
