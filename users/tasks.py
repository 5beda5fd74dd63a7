"""Celery tasks of the users app: thin, idempotent, calling services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.management import call_command

from users.sms import SMSError, send_sms

logger = logging.getLogger("marque.auth")


@shared_task(
    autoretry_for=(SMSError,),
    retry_backoff=5,  # 5 s, 10 s, 20 s, … with jitter
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=4,  # the code lives 5 minutes: later retries would deliver a dead code
    acks_late=True,
)
def send_sms_task(to: str, body: str) -> None:
    """Send one SMS through the configured backend; provider failures retry with back-off."""
    send_sms(to, body)


@shared_task
def flush_expired_tokens() -> None:
    """Delete expired outstanding/blacklisted JWT rows (simplejwt's flushexpiredtokens)."""
    call_command("flushexpiredtokens")


@shared_task
def delete_expired_verification_codes() -> int:
    """Delete one-time codes past the 24 h failure window."""
    from users.auth_services import verification_codes_delete_expired

    deleted = verification_codes_delete_expired()
    logger.info("Deleted %s expired verification codes", deleted)
    return deleted
