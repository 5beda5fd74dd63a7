"""Beat tasks of the outbox: relay what the after-commit send could not, forget old rows."""

from __future__ import annotations

from celery import shared_task

from outbox.services import outbox_delete_completed, outbox_relay


@shared_task
def relay_outbox() -> int:
    """Every minute: send what the broker could not take at commit time, or lost."""
    return outbox_relay()


@shared_task
def delete_completed_outbox_messages() -> int:
    """Daily: delete messages completed more than OUTBOX_KEEP_DAYS ago."""
    return outbox_delete_completed()
