"""Error reports to Sentry, with every phone number scrubbed (docs/OBSERVABILITY.md).

`init_sentry()` is called by the settings when `SENTRY_DSN` is set; every process
that loads them reports: gunicorn workers and daphne (Django integration) and the
Celery worker and beat (Celery integration, same settings). Without a DSN nothing
is initialised and nothing leaves the process.

A phone number is how MARQUE identifies a customer, so none may reach a third
party: `scrub` runs on every event, transaction and breadcrumb before it is sent,
and replaces anything that looks like a phone number in any string (message,
exception values, request URL, query string, body and headers, extra, tags,
breadcrumbs, user, stack-frame local variables) with `[phone]`. It errs on the
side of scrubbing: a long order total or a timestamp written as digits is
scrubbed too. Identifiers (event, trace and span ids), timestamps and the SDK's
own metadata are left alone. The SDK's default data collection (what
`send_default_pii=False` meant) already keeps cookies, the signed-in user and
client IPs out.
"""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
from django.core.exceptions import ImproperlyConfigured
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

# Keys whose values are secrets of ours wherever they appear in an event (request data,
# extra, breadcrumbs): sign-in codes, JWTs, socket tickets, idempotency keys, SMS bodies.
SECRET_KEYS = ("code", "otp", "access", "refresh", "ticket", "idempotency_key", "body")

PHONE = "[phone]"
# A digit, then digits and separators (spaces, dashes, dots, brackets, `+` or `%20`
# as URL-encoded spaces), ending on a digit; after `+` (or its URL encoding `%2B`),
# or where no letter or digit comes just before (so an id like `a1b2c3…` is no phone).
_CANDIDATE = re.compile(
    r"(?P<plus>\+|%2[Bb])?(?(plus)|(?<![0-9A-Za-z]))\(?\d(?:\d|[ \t().\-]|%20|\+(?=\d))*\d"
)
# E.164 numbers have 8 to 15 digits; without a `+`, any run of 9 or more digits counts.
_MIN_DIGITS_WITH_PLUS = 8
_MIN_DIGITS = 9
# …but a date (`2025-01-31 12:00`, a log line's time) is not one.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Keys whose values are ids, timestamps or SDK metadata: never a phone, and scrubbing
# them could break the event.
_KEEP = frozenset(
    {
        "event_id",
        "timestamp",
        "start_timestamp",
        "received",
        "trace_id",
        "span_id",
        "parent_span_id",
        "thread.id",
        "sdk",
        "modules",
        "debug_meta",
        "release",
        "dist",
        "lineno",
        "colno",
    }
)


def _replace(match: re.Match) -> str:
    text = match.group(0)
    plus = match.group("plus") or ""
    if not plus and _DATE.match(text):
        return text
    digits = sum(ch.isdigit() for ch in text[len(plus) :].replace("%20", " "))
    return PHONE if digits >= (_MIN_DIGITS_WITH_PLUS if plus else _MIN_DIGITS) else text


def scrub_text(text: str) -> str:
    """`text` with every phone-looking number replaced by `[phone]`."""
    if not any(ch.isdigit() for ch in text):
        return text
    return _CANDIDATE.sub(_replace, text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            (scrub_text(key) if isinstance(key, str) else key): (
                item if key in _KEEP else _scrub(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item) for item in value)
    return value


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_send`, `before_send_transaction`, `before_breadcrumb`: phones out, none dropped."""
    return _scrub(event)


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float = 0.0) -> None:
    """Report errors (and a share of traces) of Django and Celery to Sentry, phones scrubbed."""
    if not 0 <= traces_sample_rate <= 1:
        raise ImproperlyConfigured(
            f"SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1, got {traces_sample_rate}."
        )
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=environment,
        # No personal data (cookies, the signed-in user, client IPs) is collected: the
        # SDK's default, as `send_default_pii=False` was (that option is deprecated).
        traces_sample_rate=traces_sample_rate,
        # Sign-in codes, tokens and tickets live in request bodies and local variables:
        # neither is sent, and the SDK's scrubber also blanks these keys wherever they are.
        max_request_body_size="never",
        include_local_variables=False,
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, *SECRET_KEYS], recursive=True),
        before_send=scrub,
        before_send_transaction=scrub,
        before_breadcrumb=scrub,
    )
