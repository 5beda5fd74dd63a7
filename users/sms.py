"""SMS backends, chosen by `settings.SMS_BACKEND` the way Django chooses e-mail backends.

- `ConsoleBackend` prints each message (development: read the login code in the terminal);
- `LocMemBackend` appends each message to `users.sms.outbox` (tests), like
  `django.core.mail.outbox`;
- `FileBackend` appends each message as a JSON line to `SMS_FILE_PATH` (the local
  production topology of `make up`, whose smoke test reads the codes there);
- `TwilioBackend` sends through Twilio with one sender per market.

A backend raises `SMSError` when the provider refuses or cannot be reached.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from main.exceptions import ApplicationError
from main.markets import Market, parse_phone

logger = logging.getLogger("marque.sms")


@dataclass(frozen=True)
class SMSMessage:
    to: str
    body: str


# Messages "sent" by LocMemBackend, oldest first. Tests read the login code here.
outbox: list[SMSMessage] = []


class SMSError(Exception):
    """The provider did not accept the message (down, misconfigured, refused the number)."""


class BaseSMSBackend:
    def __init__(self, **kwargs: Any) -> None:
        pass

    def send(self, to: str, body: str) -> None:
        raise NotImplementedError


class ConsoleBackend(BaseSMSBackend):
    """Prints the message: the development default, so a newcomer can read the code."""

    def __init__(self, *, stream: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = stream

    def send(self, to: str, body: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(f"[SMS to {to}] {body}\n")
        stream.flush()


class LocMemBackend(BaseSMSBackend):
    """Keeps messages in `users.sms.outbox` (tests)."""

    def send(self, to: str, body: str) -> None:
        outbox.append(SMSMessage(to=to, body=body))


class FileBackend(BaseSMSBackend):
    """Appends `{"to", "body"}` as one JSON line to `SMS_FILE_PATH` (`make up`, `make smoke`).

    Like the console backend it is refused by production settings unless the
    process is an explicit local run (`LOCAL_RUN`, docs/OPERATIONS.md).
    """

    def __init__(self, *, path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path or settings.SMS_FILE_PATH
        if not self.path:
            raise ImproperlyConfigured("FileBackend needs SMS_FILE_PATH.")

    def send(self, to: str, body: str) -> None:
        line = json.dumps({"to": to, "body": body}, ensure_ascii=False)
        # One write of one line in append mode: processes writing at once never interleave.
        # Sign-in codes: readable by the owner only, and never through a symlink.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
        descriptor = os.open(self.path, flags, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as file:
            file.write(line + "\n")


class TwilioBackend(BaseSMSBackend):
    """Twilio, from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN; sender TWILIO_FROM_KG / TWILIO_FROM_US.

    `client` may be given (tests pass a fake); otherwise a `twilio.rest.Client` is built.
    """

    def __init__(self, *, client: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if client is None:
            if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
                raise ImproperlyConfigured(
                    "TwilioBackend needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
                )
            from twilio.rest import Client

            client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
        self.client = client

    @staticmethod
    def sender_for(to: str) -> str:
        try:
            market = parse_phone(to).market
        except ApplicationError as exc:
            raise SMSError(f"Cannot send an SMS to {to!r}: not a supported number.") from exc
        sender = settings.TWILIO_FROM_KG if market == Market.KG else settings.TWILIO_FROM_US
        if not sender:
            raise SMSError(
                f"No Twilio sender configured for market {market} (TWILIO_FROM_{market})."
            )
        return sender

    def send(self, to: str, body: str) -> None:
        from twilio.base.exceptions import TwilioException

        sender = self.sender_for(to)
        try:
            self.client.messages.create(to=to, from_=sender, body=body)
        except (TwilioException, OSError) as exc:  # OSError: network errors from the HTTP client
            raise SMSError(f"Twilio could not send the SMS: {exc}") from exc


def get_backend(path: str | None = None, **kwargs: Any) -> BaseSMSBackend:
    """An instance of the backend at `path` (default: settings.SMS_BACKEND)."""
    return import_string(path or settings.SMS_BACKEND)(**kwargs)


def send_sms(to: str, body: str) -> None:
    """Send one SMS through the configured backend. Raises `SMSError` on provider failure.

    The one gate every SMS passes: a number that cannot receive SMS (a landline or
    premium-rate number stored by staff or before the rule existed) is skipped
    with a warning, never sent to, and not retried (SMS pumping, MARKETS.md).
    """
    try:
        parse_phone(to, for_sms=True)
    except ApplicationError:
        logger.warning("SMS to %s not sent: not a number that can receive SMS", to)
        return
    get_backend().send(to, body)


@shared_task(
    name="users.tasks.send_sms_task",  # its name since it was defined in users/tasks.py
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
