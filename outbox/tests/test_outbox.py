"""The outbox: written with the change, sent after commit, relayed when the broker refused."""

from __future__ import annotations

import logging
from datetime import timedelta
from unittest import mock

import pytest
from celery import shared_task
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from main.celery import app
from outbox import services
from outbox.models import OutboxMessage
from outbox.services import (
    outbox_delete_completed,
    outbox_publish,
    outbox_relay,
)

pytestmark = pytest.mark.django_db

RAN: list[tuple] = []


@shared_task(name="outbox.tests.record")
def record(*args, **kwargs) -> None:
    RAN.append((args, kwargs))


@pytest.fixture(autouse=True)
def _ran():
    RAN.clear()
    yield
    RAN.clear()


def _age(message: OutboxMessage, seconds: int) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_message_is_sent_after_commit_and_marked(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = outbox_publish("outbox.tests.record", 7, reason="x")
        assert RAN == []  # nothing leaves before the commit
    assert RAN == [((7,), {"reason": "x"})]
    message.refresh_from_db()
    assert message.sent_at is not None
    assert message.completed_at is not None  # the task succeeded: nothing left to relay
    assert (message.attempts, message.deliveries) == (1, 1)


def test_a_rollback_takes_the_message_with_it(django_capture_on_commit_callbacks):
    def change_that_fails() -> None:
        with transaction.atomic():
            outbox_publish("outbox.tests.record", 1)
            raise RuntimeError("the change failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        change_that_fails()
    assert callbacks == []
    assert not OutboxMessage.objects.exists()
    assert RAN == []


def test_a_broker_failure_is_recorded_never_raised(django_capture_on_commit_callbacks, caplog):
    with (
        mock.patch.object(record, "apply_async", side_effect=OperationalError("refused")),
        django_capture_on_commit_callbacks(execute=True),
        caplog.at_level(logging.WARNING, logger="marque.outbox"),
    ):
        message = outbox_publish("outbox.tests.record", 1)
    message.refresh_from_db()
    assert (message.sent_at, message.attempts) == (None, 1)
    assert "refused" in message.last_error
    assert "not sent" in caplog.text


def test_the_relay_sends_what_waited_past_the_grace_period_only(settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 30
    old = OutboxMessage.objects.create(task="outbox.tests.record", args=[1])
    _age(old, 31)
    fresh = OutboxMessage.objects.create(task="outbox.tests.record", args=[2])
    assert services.outbox_pending() == 2

    assert outbox_relay() == 1
    assert RAN == [((1,), {})]
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.sent_at is not None
    assert fresh.sent_at is None  # its own after-commit send is still on its way
    assert outbox_relay() == 0  # nothing is sent twice


def test_the_relay_stops_at_the_first_broker_failure_and_keeps_the_rest(settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    for n in range(3):
        OutboxMessage.objects.create(task="outbox.tests.record", args=[n])
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    try:
        with mock.patch.object(record, "apply_async", side_effect=OperationalError("down")) as send:
            assert outbox_relay() == 0
        assert send.call_count == 1  # the broker is down: the others are not tried
    finally:
        app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 3
    assert outbox_relay() == 3  # the broker is back
    assert [args for args, _ in RAN] == [(0,), (1,), (2,)]


def test_an_unknown_task_waits_without_blocking_the_others(settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    lost = OutboxMessage.objects.create(task="nowhere.tasks.renamed")
    OutboxMessage.objects.create(task="outbox.tests.record", args=[5])
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    try:
        with mock.patch.object(record, "apply_async") as send:
            assert outbox_relay() == 1
        send.assert_called_once()
    finally:
        app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    lost.refresh_from_db()
    assert lost.sent_at is None
    assert lost.last_error.startswith("UnknownTask")


def test_old_completed_messages_are_deleted_pending_ones_never():
    long_ago = timezone.now() - timedelta(days=8)
    done = OutboxMessage.objects.create(
        task="outbox.tests.record", sent_at=long_ago, completed_at=long_ago
    )
    recent = OutboxMessage.objects.create(
        task="outbox.tests.record", sent_at=timezone.now(), completed_at=timezone.now()
    )
    lost = OutboxMessage.objects.create(task="outbox.tests.record", sent_at=long_ago)
    waiting = OutboxMessage.objects.create(task="outbox.tests.record")
    _age(waiting, 30 * 86400)
    assert outbox_delete_completed() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {
        recent.pk,
        lost.pk,
        waiting.pk,
    }
    assert not OutboxMessage.objects.filter(pk=done.pk).exists()


def test_a_message_the_broker_lost_is_sent_again_after_the_redelivery_delay(settings):
    """Taken by the broker, never run (a Redis restarted empty): sent again, until done."""
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    settings.OUTBOX_REDELIVER_AFTER_SECONDS = 300
    message = OutboxMessage.objects.create(task="outbox.tests.record", args=[9])
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    try:
        with mock.patch.object(record, "apply_async") as send:  # the broker takes it…
            assert outbox_relay() == 1
            assert outbox_relay() == 0  # …and it is not sent again while it may still run
        assert send.call_args.kwargs["headers"] == {"outbox_id": message.pk}
    finally:
        app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    message.refresh_from_db()
    assert (message.deliveries, message.completed_at) == (1, None)

    # …but loses it. Past the redelivery delay the relay sends it again; it runs this time.
    OutboxMessage.objects.filter(pk=message.pk).update(
        sent_at=timezone.now() - timedelta(seconds=301)
    )
    assert outbox_relay() == 1
    assert RAN == [((9,), {})]
    message.refresh_from_db()
    assert message.deliveries == 2
    assert message.completed_at is not None
    assert outbox_relay() == 0


def test_a_task_that_keeps_failing_is_redelivered_a_bounded_number_of_times(settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    settings.OUTBOX_REDELIVER_AFTER_SECONDS = 0
    settings.OUTBOX_MAX_DELIVERIES = 3
    message = OutboxMessage.objects.create(task="outbox.tests.record", args=[1])
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    try:
        with mock.patch.object(record, "apply_async") as send:  # taken, never completed
            for _ in range(5):
                outbox_relay()
        assert send.call_count == 3
    finally:
        app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    message.refresh_from_db()
    assert (message.deliveries, message.completed_at) == (3, None)  # left for staff to see


def test_the_relay_drains_a_backlog_larger_than_one_batch_in_one_run(settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    settings.OUTBOX_RELAY_BATCH = 4
    OutboxMessage.objects.bulk_create(
        OutboxMessage(task="outbox.tests.record", args=[n]) for n in range(10)
    )
    assert outbox_relay() == 10
    assert [args for args, _ in RAN] == [(n,) for n in range(10)]
    assert services.outbox_pending() == 0


def test_the_worker_marks_a_message_done_from_its_header():
    message = OutboxMessage.objects.create(task="outbox.tests.record", sent_at=timezone.now())
    request = mock.Mock(spec=["outbox_id"], outbox_id=str(message.pk))  # as a worker sees it
    services.on_task_success(sender=mock.Mock(request=request))
    message.refresh_from_db()
    assert message.completed_at is not None


def test_beat_relays_every_minute():
    entry = django_settings.CELERY_BEAT_SCHEDULE["relay-outbox"]
    assert entry["task"] == "outbox.tasks.relay_outbox"
    assert entry["schedule"] <= 60


def test_a_message_begun_by_a_worker_is_not_sent_again_while_it_may_still_run(settings):
    settings.OUTBOX_REDELIVER_AFTER_SECONDS = 300
    long_ago = timezone.now() - timedelta(seconds=301)
    message = OutboxMessage.objects.create(
        task="outbox.tests.record", args=[3], sent_at=long_ago, deliveries=1
    )
    services.on_task_prerun(
        task=mock.Mock(request=mock.Mock(spec=["outbox_id"], outbox_id=message.pk))
    )
    message.refresh_from_db()
    assert message.started_at is not None
    assert outbox_relay() == 0  # lost-in-the-queue does not apply: a worker has it

    # Past the hard time limit plus the broker's delay it cannot be running: it died.
    OutboxMessage.objects.filter(pk=message.pk).update(
        started_at=timezone.now() - timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT + 1)
    )
    assert outbox_relay() == 1
    assert RAN == [((3,), {})]


def test_a_message_for_an_unknown_task_stops_after_its_tries(settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    settings.OUTBOX_MAX_DELIVERIES = 2
    lost = OutboxMessage.objects.create(task="nowhere.tasks.renamed")
    for _ in range(4):
        outbox_relay()
    lost.refresh_from_db()
    assert lost.attempts == 2  # then left alone, for staff to see and send again
    assert services.outbox_send_again(ids=[lost.pk]) == 1
    lost.refresh_from_db()
    assert (lost.attempts, lost.deliveries, lost.sent_at) == (0, 0, None)


def test_after_commit_stops_at_the_first_broker_refusal(django_capture_on_commit_callbacks):
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    try:
        with (
            mock.patch.object(record, "apply_async", side_effect=OperationalError("down")) as send,
            django_capture_on_commit_callbacks(execute=True),
        ):
            services.outbox_publish_all([("outbox.tests.record", (n,), {}) for n in range(5)])
    finally:
        app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    assert send.call_count == 1  # a request never waits on a dead broker five times
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 5
