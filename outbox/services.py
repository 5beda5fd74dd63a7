"""Publish work for the workers in the transaction of the change; relay it to Celery.

`outbox_publish("app.tasks.name", *args)` writes an `OutboxMessage` in the
caller's transaction. After commit it is handed to the broker at once; if the
broker cannot take it (outage, restart), the message stays unsent and the
`outbox.tasks.relay_outbox` beat task sends it later. A message is done only
when its task has *succeeded* (the worker marks it, `on_task_success`); one the
broker took but never ran (a Redis restarted empty, a task that kept failing)
is sent again after OUTBOX_REDELIVER_AFTER_SECONDS. So a side effect is lost
neither when the broker is down at commit time, nor when it loses its queue,
nor when a process dies between commit and publish. A message may run more
than once, which is why every consumer is idempotent by its event id.

Nothing here ever raises into the request that committed: a failure to relay is
recorded on the message and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from enum import Enum
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from outbox.models import OutboxMessage

logger = logging.getLogger("marque.outbox")

# The message header that carries the outbox row id to the worker.
OUTBOX_HEADER = "outbox_id"


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
            if _send(message) is Sent.BROKER_DOWN:
                break  # the rest would wait for it too: the relay sends them

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


class Sent(Enum):
    YES = "sent"
    BROKER_DOWN = "the broker refused it"
    FAILED = "an unknown task, or an eager task that raised"


def outbox_send(*, message: OutboxMessage) -> bool:
    """Hand one message to the broker (or run it, when eager). True when it went out.

    Never raises: a failure adds an attempt and the error text to the message.
    The message carries its id in a header, so the worker marks it completed
    (`outbox_mark_completed`) once the task has succeeded.
    """
    return _send(message) is Sent.YES


def _send(message: OutboxMessage) -> Sent:
    try:
        task = _task(message.task)
        # A savepoint: run eagerly, a task's database error must not break the caller's
        # transaction. retry=False: with the broker down, fail now; the relay tries again.
        with transaction.atomic():
            task.apply_async(
                args=message.args,
                kwargs=message.kwargs,
                headers={OUTBOX_HEADER: message.pk},
                retry=False,
            )
    except Exception as exc:  # broker down, unknown task, an eager task that failed
        logger.warning("Outbox message %s (%s) not sent: %r", message.pk, message.task, exc)
        try:
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=F("attempts") + 1, last_error=repr(exc)[:2000]
            )
        except Exception:  # the database is down too: the relay finds it later anyway
            logger.warning("Outbox message %s: could not record the failure", message.pk)
        broker_down = not current_app.conf.task_always_eager and not isinstance(exc, UnknownTask)
        return Sent.BROKER_DOWN if broker_down else Sent.FAILED
    try:
        OutboxMessage.objects.filter(pk=message.pk).update(
            sent_at=timezone.now(),
            started_at=None,
            attempts=F("attempts") + 1,
            deliveries=F("deliveries") + 1,
            last_error="",
        )
    except Exception:  # sent but not marked: it may be sent again (consumers are idempotent)
        logger.warning("Outbox message %s sent but not marked", message.pk)
    if message.deliveries + 1 >= settings.OUTBOX_MAX_DELIVERIES:
        logger.error(
            "Outbox message %s (%s) sent %s times: the relay will not send it again",
            message.pk,
            message.task,
            message.deliveries + 1,
        )
    return Sent.YES


def _outbox_id(task: Any) -> int | None:
    request = getattr(task, "request", None)
    outbox_id = getattr(request, OUTBOX_HEADER, None)
    if outbox_id is None:  # eager runs keep custom headers in request.headers
        outbox_id = (getattr(request, "headers", None) or {}).get(OUTBOX_HEADER)
    return int(outbox_id) if outbox_id is not None else None


def on_task_prerun(sender=None, task=None, **kwargs: Any) -> None:
    """Celery's `task_prerun`: a worker began the message's task (it is not lost)."""
    outbox_id = _outbox_id(task or sender)
    if outbox_id is None:
        return
    try:
        OutboxMessage.objects.filter(pk=outbox_id, completed_at__isnull=True).update(
            started_at=timezone.now()
        )
    except Exception:  # not marked: at worst it is sent again later, idempotently
        logger.warning("Outbox message %s started but not marked", outbox_id)


def outbox_mark_completed(outbox_id: int) -> None:
    """The task of message `outbox_id` succeeded: the relay forgets it. Never raises."""
    try:
        OutboxMessage.objects.filter(pk=outbox_id, completed_at__isnull=True).update(
            completed_at=timezone.now()
        )
    except Exception:  # not marked: it is sent again later, and its consumer is idempotent
        logger.warning("Outbox message %s done but not marked", outbox_id)


def on_task_success(sender=None, **kwargs: Any) -> None:
    """Celery's `task_success` signal (connected in OutboxConfig.ready)."""
    outbox_id = _outbox_id(sender)
    if outbox_id is not None:
        outbox_mark_completed(outbox_id)


def _due() -> Q:
    """Messages the relay should send now.

    - never sent (the broker refused it), past OUTBOX_RELAY_GRACE_SECONDS, which
      leaves a fresh message to its own after-commit send; a message naming a
      task no app registers stops after OUTBOX_MAX_DELIVERIES tries;
    - sent but never begun by a worker after OUTBOX_REDELIVER_AFTER_SECONDS: the
      broker lost it (a Redis restarted empty);
    - begun but never completed after the hard time limit plus the broker's
      redelivery delay: it failed or its worker died, and it cannot still be running.

    Sent messages go out at most OUTBOX_MAX_DELIVERIES times.
    """
    now = timezone.now()
    fresh = now - timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)
    lost = now - timedelta(seconds=settings.OUTBOX_REDELIVER_AFTER_SECONDS)
    dead = now - timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT)
    unknown_task = Q(last_error__startswith=UnknownTask.__name__)
    never_sent = Q(sent_at__isnull=True, created_at__lte=fresh) & ~(
        unknown_task & Q(attempts__gte=settings.OUTBOX_MAX_DELIVERIES)
    )
    again = Q(deliveries__lt=settings.OUTBOX_MAX_DELIVERIES) & (
        Q(sent_at__lte=lost, started_at__isnull=True) | Q(started_at__lte=dead)
    )
    return Q(completed_at__isnull=True) & (never_sent | again)


def outbox_send_again(*, ids: Iterable[int]) -> int:
    """Staff: give messages that used up their deliveries a fresh start (admin action)."""
    return OutboxMessage.objects.filter(pk__in=list(ids), completed_at__isnull=True).update(
        sent_at=None, started_at=None, deliveries=0, attempts=0
    )


def outbox_relay() -> int:
    """Send every due message, batch by batch; returns how many went out.

    Each batch (OUTBOX_RELAY_BATCH rows) is claimed with SKIP LOCKED on
    PostgreSQL, so two relays never send the same message at once. The run
    ends when nothing is due, when the broker refuses a message (it is down:
    the rest would fail too), or after OUTBOX_RELAY_SECONDS (the next beat run
    goes on), so a backlog of thousands drains in one run, not one batch a minute.
    """
    deadline = time.monotonic() + settings.OUTBOX_RELAY_SECONDS
    sent = tried = 0
    last_pk = 0  # keyset: a message that failed is not tried twice in one run
    broker_down = False
    while not broker_down and time.monotonic() < deadline:
        with transaction.atomic():
            batch = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(_due(), pk__gt=last_pk)
                .order_by("pk")[: settings.OUTBOX_RELAY_BATCH]
            )
            if not batch:
                break
            for message in batch:
                last_pk = message.pk
                tried += 1
                outcome = _send(message)
                sent += outcome is Sent.YES
                if outcome is Sent.BROKER_DOWN:
                    broker_down = True
                    break
    if tried:
        logger.info("Outbox relay: %s of %s due messages sent", sent, tried)
    return sent


def outbox_pending() -> int:
    """Messages whose task has not completed yet (sent or not)."""
    return OutboxMessage.objects.filter(completed_at__isnull=True).count()


def outbox_delete_completed(*, older_than_days: int | None = None) -> int:
    """Forget messages completed more than OUTBOX_KEEP_DAYS ago; returns how many."""
    days = older_than_days if older_than_days is not None else settings.OUTBOX_KEEP_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = OutboxMessage.objects.filter(completed_at__lt=cutoff).delete()
    return deleted
