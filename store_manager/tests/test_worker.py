"""A real Celery worker on the real Redis broker runs a snapshot task (SPEC §6).

Everything else in the suite runs tasks eagerly; this test proves the wiring
that eager mode hides: JSON serialisation of the arguments, the broker, the
task being registered under its name, the worker's own database connection.

The worker runs in a thread of this process (`celery.contrib.testing.worker`),
so it uses the same test database. Its broker is Redis database 0, which the
test settings never use for the cache (they spread xdist workers over 1..15
and clear them, which would wipe a queue living there), with a queue named for
this test only, so parallel test sessions (xdist workers, other CI jobs, a
developer's own worker on the same Redis) never take each other's tasks.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from celery.result import EagerResult, _set_task_join_will_block
from celery.signals import task_postrun
from django.db import connections

from main.testing import celery_on_broker
from outbox.models import OutboxMessage
from outbox.services import outbox_send
from store_manager.models import RevenueSnapshot
from store_manager.tasks import recompute_order_periods
from store_manager.tests.helpers import kg_customer, place

REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DB = 0  # see the module docstring
WAIT_SECONDS = 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not REDIS_URL, reason="REDIS_URL is not set: no Redis broker for a real Celery worker"
    ),
]


def _broker_url() -> str:
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL
    return f"{base}/{BROKER_DB}"


def _close_worker_connections(**kwargs):
    # Runs in the worker thread after each task: its DB connection must not outlive
    # the test, or PostgreSQL refuses to drop the test database.
    connections.close_all()


@pytest.fixture
def real_worker():
    from celery.contrib.testing.worker import start_worker

    queue = f"marque-test-{uuid.uuid4().hex}"
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        # Not eager: the settings' CELERY_ names are overridden (celery_on_broker).
        with (
            celery_on_broker(_broker_url()) as app,
            start_worker(
                app,
                perform_ping_check=False,
                queues=[queue],
                shutdown_timeout=20,
                loglevel="WARNING",
            ),
        ):
            yield queue
    finally:
        task_postrun.disconnect(_close_worker_connections)
        # The worker's pool marks the whole process as "inside a worker" (joining a
        # result would block), which outlives the thread: later tests in this process
        # that .get() an eager result would be refused.
        _set_task_join_will_block(False)
        # The queue is this test's alone: remove it and kombu's bindings for it from Redis.
        import redis

        redis.Redis.from_url(_broker_url()).delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )


@pytest.mark.django_db(transaction=True)
def test_a_queued_snapshot_task_is_run_by_a_real_worker(real_worker):
    order = place(kg_customer(), datetime(2026, 11, 20, 9, tzinfo=UTC), "1234.00")

    # Not eager: serialised to JSON, through Redis, to the worker thread.
    result = recompute_order_periods.apply_async((order.pk,), queue=real_worker)
    assert result.id
    assert not isinstance(result, EagerResult)  # it went through the broker

    deadline = time.monotonic() + WAIT_SECONDS
    rows = RevenueSnapshot.objects.filter(market="KG", revenue=Decimal("1234.00"))
    while rows.count() < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(rows.values_list("period", flat=True)) == ["daily", "hourly", "monthly", "weekly"]


@pytest.mark.django_db(transaction=True)
def test_an_outbox_message_run_by_a_real_worker_is_marked_done(real_worker):
    """The outbox id travels in a message header; the worker marks the message done."""
    order = place(kg_customer(), datetime(2026, 11, 20, 9, tzinfo=UTC), "77.00")
    message = OutboxMessage.objects.create(task=recompute_order_periods.name, args=[order.pk])
    send = recompute_order_periods.apply_async

    def to_the_test_queue(*args, **options):  # outbox_send uses the default queue
        return send(*args, queue=real_worker, **options)

    with mock.patch.object(recompute_order_periods, "apply_async", to_the_test_queue):
        assert outbox_send(message=message)

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.completed_at:
            break
        time.sleep(0.2)
    assert message.completed_at is not None
    assert message.started_at is not None  # the worker saw the header when it began
    assert RevenueSnapshot.objects.filter(market="KG", revenue=Decimal("77.00")).exists()
