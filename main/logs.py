"""Structured logs: one JSON object per line, with the request id (docs/OBSERVABILITY.md).

Every record goes through structlog's `ProcessorFormatter`: the project's
stdlib loggers (`logging.getLogger("marque.…")`), Django's, Celery's and the
structlog events of the access log (main/request_id.py) and of django-structlog's
Celery integration. `LOG_FORMAT` picks the renderer: `json` (production) or
`plain` (`make run`, tests).

Each line carries the context of where it was written: `request_id`, `user_id`
and `market` inside a request; inside a Celery task, `task_id`, `task_name` and
the `request_id`/`user_id`/`market` of the request that queued it, which travel
in the message headers (django-structlog's `__django_structlog__` header, added
on publish and bound by the worker before the task runs).

Django applies the settings' LOGGING through `configure_logging`
(LOGGING_CONFIG); Celery's worker and beat do too (main/celery.py), so they do
not install Celery's own format.
"""

from __future__ import annotations

import logging.config
from collections.abc import Callable
from contextvars import ContextVar
from functools import cached_property
from typing import Any

import structlog
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import receiver
from django.utils.functional import SimpleLazyObject, empty
from django_structlog.celery import signals as task_signals

LOG_FORMATS = ("json", "plain")

# What a task message carries from the request (or task) that queued it; anything
# else bound there stays behind (the message is JSON, and small).
TASK_CONTEXT_KEYS = ("request_id", "user_id", "market", "parent_task_id")


def log_format(value: str) -> str:
    """The LOG_FORMAT setting, checked: a typo must stop start-up, not lose the logs."""
    value = value.lower()
    if value not in LOG_FORMATS:
        raise ImproperlyConfigured(
            f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}: {value!r}."
        )
    return value


def with_log_format(config: dict, value: str) -> dict:
    """A copy of the LOGGING dict whose `json`/`plain` handlers render with `value`."""
    handlers = {
        name: {**handler, "formatter": value}
        if handler.get("formatter") in LOG_FORMATS
        else handler
        for name, handler in config["handlers"].items()
    }
    return {**config, "handlers": handlers}


# --- The request being served ----------------------------------------------------


class CurrentRequest:
    """The Django request being served, and the market it is in when nobody is signed in.

    That market (main/request_market.py) is worked out by `anonymous_market`, once,
    and only if a line needs it.
    """

    def __init__(self, request: Any, anonymous_market: Callable[[Any], str | None]) -> None:
        self.request = request
        self._anonymous_market = anonymous_market

    @cached_property
    def market(self) -> str | None:
        return self._anonymous_market(self.request)


_current: ContextVar[CurrentRequest | None] = ContextVar("marque_log_request", default=None)


def set_current_request(current: CurrentRequest | None) -> None:
    """Set by the request middleware when a request starts (it stays until the next one)."""
    _current.set(current)


def signed_in_user(request) -> Any | None:
    """The request's user, if authentication already produced one; never loads it.

    DRF authenticates the JWT inside the view and then sets the Django request's
    `user` too. Before that (or for a session user nobody asked for) the user is
    a lazy object: reading it would load the session, so it is left alone.
    """
    user = getattr(request, "user", None)
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    if user is None or not user.is_authenticated:
        return None
    return user


def request_fields(current: CurrentRequest) -> dict[str, Any]:
    """`user_id` (once known) and `market`: the signed-in user's, else the anonymous one."""
    user = signed_in_user(current.request)
    if user is None:
        return {"market": current.market}
    return {"user_id": user.pk, "market": getattr(user, "market", None) or current.market}


def add_request_fields(logger: Any, method_name: str, event_dict: dict) -> dict:
    """structlog processor: a line written while serving a request names its user and market."""
    current = _current.get()
    if current is not None and not ("user_id" in event_dict and "market" in event_dict):
        for key, value in request_fields(current).items():
            event_dict.setdefault(key, value)
    return event_dict


# --- Formatters -------------------------------------------------------------------

# Every record, a structlog event or a stdlib one: what was bound where it was written.
_CONTEXT = [structlog.contextvars.merge_contextvars, add_request_fields]
# `extra` fields that must never reach a log line: Celery's `data` holds a task's
# arguments (a sign-in SMS: the phone and its code), Django's `request` repr the
# query string (a search by phone).
_UNLOGGED_EXTRA = ("data", "request")


def drop_unlogged_extra(logger: Any, method_name: str, event_dict: dict) -> dict:
    """structlog processor: removes the `extra` fields of `_UNLOGGED_EXTRA`."""
    for key in _UNLOGGED_EXTRA:
        event_dict.pop(key, None)
    return event_dict


# Records of stdlib loggers: their `extra={...}` fields too, but for those above.
_FOREIGN_PRE_CHAIN = [*_CONTEXT, structlog.stdlib.ExtraAdder(), drop_unlogged_extra]


def json_formatter() -> logging.Formatter:
    """One JSON object per line; a traceback is the `exception` field of its line."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_FOREIGN_PRE_CHAIN,
        processors=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def plain_formatter() -> logging.Formatter:
    """Readable lines (`make run`, tests): time, level, logger, event, then key=value context.

    The line starts as it always has (`%(asctime)s %(levelname)s %(name)s`), so
    tools that split a log into records keep working; a traceback follows its line.
    """
    return structlog.stdlib.ProcessorFormatter(
        fmt="%(asctime)s %(levelname)s %(name)s %(message)s",
        foreign_pre_chain=_FOREIGN_PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(
                colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
            ),
        ],
    )


def configure_logging(config: dict) -> None:
    """LOGGING_CONFIG: structlog hands its events to the stdlib handlers of `config`."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # a disabled level costs nothing more
            *_CONTEXT,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(config)
    # Python warnings (a deprecation, Celery's warning about running as root) are log
    # lines too (`py.warnings`), not bare text on stderr between the JSON lines.
    logging.captureWarnings(True)


# --- Celery (django-structlog's integration, DJANGO_STRUCTLOG_CELERY_ENABLED) ----------


@receiver(task_signals.modify_context_before_task_publish)
def _task_message_context(sender: Any, context: dict, **kwargs: Any) -> None:
    """On publish: the message carries the request id, user and market of the caller.

    Inside a request the user is the one DRF authenticated (not bound yet when
    the view queues the task, so it is read here); inside a task, what the task
    itself was given.
    """
    current = _current.get()
    if current is not None:
        context.update(request_fields(current))
    kept = {key: context[key] for key in TASK_CONTEXT_KEYS if context.get(key) is not None}
    context.clear()
    context.update(kept)


@receiver(task_signals.bind_extra_task_metadata)
def _bind_task_name(sender: Any, task: Any = None, **kwargs: Any) -> None:
    """In the worker, before a task runs: its lines name it (task_id is bound already)."""
    if task is not None:
        structlog.contextvars.bind_contextvars(task_name=task.name)
