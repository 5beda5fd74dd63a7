"""The request id, and the one access log line of every request (docs/OBSERVABILITY.md).

`RequestLogMiddleware` is the outermost middleware, so that every response has
the `X-Request-ID` header, errors answered by other middleware included (413,
503, a redirect to HTTPS). The id is the client's or proxy's `X-Request-ID`
when it is sane (1 to 128 characters of `A-Z a-z 0-9 . _ : -`), else a new uuid4
hex. It is bound to every log line written while serving the request, and
travels to the Celery tasks the request queues (main/logs.py).

When the response is ready, one `request_finished` line gives the method, route
(the URL pattern, not the path with its ids), path, status, duration, user and
market. Health probes and metrics scrapes log it at DEBUG unless they fail.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog

from main.exceptions import ApplicationError
from main.logs import CurrentRequest, set_current_request, signed_in_user
from main.request_market import anonymous_market

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Polled every few seconds by load balancers and Prometheus: DEBUG unless they fail.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

logger = structlog.get_logger("marque.request")


def accepted_request_id(value: str | None) -> str:
    """The incoming id when it is sane (nothing a log line or header chokes on), else a new one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def _anonymous_market(request) -> str | None:
    try:
        return anonymous_market(request)
    except ApplicationError:  # an invalid X-Market: the view answers 400 itself
        return None


def _served_market(request, response) -> str | None:
    """The market the view resolved (a customer view's, a manager's active market), if any.

    DRF keeps it on its own Request, which the response's renderer context holds;
    nothing is queried.
    """
    drf_request = (getattr(response, "renderer_context", None) or {}).get("request")
    if drf_request is None:
        return None
    market = getattr(drf_request, "market", None)
    if market is None:
        market = getattr(getattr(drf_request, "store_manager", None), "active_market", None)
    return market


class RequestLogMiddleware:
    """Request id in, request id out, one access line. Sync only: the rest of the stack is."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = accepted_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        current = CurrentRequest(request, _anonymous_market)
        # Bound until the next request starts, not only until this returns: Django logs an
        # error response ("Not Found: …") after the whole middleware chain, with the id too.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        set_current_request(current)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        self._log(request, response, current, started)
        return response

    def _log(self, request, response, current: CurrentRequest, started: float) -> None:
        status = response.status_code
        if status >= 500:
            level = "warning"  # the error itself is logged where it happened, at ERROR
        elif request.path in QUIET_PATHS:
            level = "debug"
        else:
            level = "info"
        user = signed_in_user(request)
        match = request.resolver_match
        fields: dict[str, Any] = {
            "method": request.method,
            "route": match.route if match else None,
            "path": request.path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "user_id": user.pk if user is not None else None,
            "market": _served_market(request, response)
            or (getattr(user, "market", None) if user is not None else None)
            or current.market,
        }
        getattr(logger, level)("request_finished", **fields)
