"""Task time limits, retries and the broker's redelivery agree (a killed worker's task returns)."""

from __future__ import annotations

from django.conf import settings

from store_manager.tasks import REPORT_RETRY_MAX
from users.tasks import send_sms_task


def test_broker_redelivery_follows_the_task_time_limits():
    """A task on a killed worker comes back within minutes, never while it may still run."""
    hard = settings.CELERY_TASK_TIME_LIMIT
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < hard < visibility <= hard + 300
    assert visibility <= 15 * 60
    # No retry countdown outlives it (Redis would hand the waiting task out twice).
    assert visibility > REPORT_RETRY_MAX
    assert send_sms_task.retry_backoff_max < visibility
