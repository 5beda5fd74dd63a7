"""Celery tasks of the users app: thin, idempotent, calling services.

`send_sms_task` is defined beside the SMS backends (`users.sms`), so that the
sign-in services can queue it without importing this module (which imports
them); it keeps its registered name `users.tasks.send_sms_task`.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.management import call_command

from users.services.auth import verification_codes_delete_expired
from users.sms import send_sms_task

__all__ = ("delete_expired_verification_codes", "flush_expired_tokens", "send_sms_task")

logger = logging.getLogger("marque.auth")


@shared_task
def flush_expired_tokens() -> None:
    """Delete expired outstanding/blacklisted JWT rows (simplejwt's flushexpiredtokens)."""
    call_command("flushexpiredtokens")


@shared_task
def delete_expired_verification_codes() -> int:
    """Delete one-time codes past the 24 h failure window."""
    deleted = verification_codes_delete_expired()
    logger.info("Deleted %s expired verification codes", deleted)
    return deleted
