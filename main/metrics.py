"""Prometheus metrics: every metric of the project, and what feeds and serves them.

One place for every metric (all named `marque_*`, every label bounded: a route
pattern, never a raw path; a market, never a user):

- `MetricsMiddleware` counts each HTTP request by method, route and status, and
  observes its latency and the time it spent in the database (all aliases).
- Celery's task signals record each task's outcome and duration (connected when
  this module is imported, which `main/celery.py` does in every process).
- One-line calls from the services count business events after commit: orders
  placed, payments authorised or failed, OTP requests by result, open WebSockets.
- `metrics_view` serves `/metrics` behind `METRICS_TOKEN` (docs/OBSERVABILITY.md).

Multiprocess mode: when `PROMETHEUS_MULTIPROC_DIR` is set in the environment
before the process starts, prometheus_client keeps every value in a file of that
directory (one per process), and `/metrics` sums the files of every process
(gunicorn workers, daphne, Celery) with `MultiProcessCollector`. The directory
must be emptied before the processes start. Without it (development, tests),
values live in the process and `/metrics` serves the default registry.

Imported by `main/celery.py`, so with the `main` package itself, before Django's
settings exist: nothing here may read a setting or import a module that does
(the exception handler, DRF) at import time.
"""

from __future__ import annotations

import atexit
import functools
import hmac
import inspect
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from celery import signals as celery_signals
from celery.exceptions import Retry
from django.conf import settings
from django.db import connections, transaction
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder

# prometheus_client reads the variable itself, once, when it is imported.
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ

# Seconds: a catalogue read from the cache takes a millisecond, a checkout tens of them;
# past 30 s gunicorn has killed the worker.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Tasks run from milliseconds (a notification) to minutes (a snapshot rebuild, 300 s soft limit).
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# --- HTTP -------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "marque_http_requests_total",
    "HTTP requests answered, by method, route pattern and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "marque_http_request_duration_seconds",
    "Time from the first middleware to the response, by method and route pattern.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_DB_TIME = Histogram(
    "marque_http_request_db_seconds",
    "Time one request spent waiting for database queries (every alias), by route pattern.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_DB_QUERIES = Counter(
    "marque_http_db_queries_total",
    "Database queries run by requests, by route pattern.",
    ["route"],
)

# --- Catalogue cache (main/http_cache.py) ------------------------------------------------

CATALOGUE_CACHE = Counter(
    "marque_catalogue_cache_requests_total",
    "Catalogue cache look-ups: layer `response` (a whole anonymous response replayed) or "
    "`body` (a response body or a list total); result hit, miss, or error (cache down).",
    ["layer", "result"],
)

# --- Celery -----------------------------------------------------------------------------

CELERY_TASKS = Counter(
    "marque_celery_tasks_total",
    "Celery tasks run, by task name and outcome (success, failure, retry, ignored, rejected).",
    ["task", "outcome"],
)
CELERY_TASK_DURATION = Histogram(
    "marque_celery_task_duration_seconds",
    "How long a Celery task ran, whatever its outcome, by task name.",
    ["task"],
    buckets=TASK_BUCKETS,
)

# --- Business events, by market -----------------------------------------------------------

ORDERS_PLACED = Counter(
    "marque_orders_placed_total",
    "Orders placed at checkout (committed; idempotent replays not counted).",
    ["market", "payment_method"],
)
PAYMENTS = Counter(
    "marque_payments_total",
    "Payments that became authorized (money held) or failed (the customer's attempt was "
    "declined), by market and provider.",
    ["market", "provider", "result"],
)
OTP_REQUESTS = Counter(
    "marque_otp_requests_total",
    "SMS code requests by the market the request was made in, purpose and result: sent, "
    "throttled, refused (not a mobile number we serve), sms_unavailable, cache_unavailable, "
    "error (anything else, e.g. the database).",
    ["market", "purpose", "result"],
)
WEBSOCKETS = Gauge(
    "marque_websocket_connections",
    "WebSockets open and admitted (ticket redeemed), by role (customer or manager).",
    ["role"],
    multiprocess_mode="livesum",
)

PAYMENT_RESULTS = frozenset({"authorized", "failed"})


# --- Route labels -------------------------------------------------------------------------

UNMATCHED = "unmatched"
# Any other method (a scanner's PROPFIND…) is `other`: the label stays bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@functools.lru_cache(maxsize=1024)
def route_label(route: str) -> str:
    """A URL pattern as a label: `api/v1/products/(?P<slug>[-a-zA-Z0-9_]+)/$` → `…/<slug>/`."""
    label = _NAMED_GROUP.sub(r"<\1>", route).replace("^", "").replace("$", "")
    return label or "/"


def _route(request, status: int) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None and status != 404:
        # A middleware answered before the URL was resolved (a CORS preflight, a 413):
        # still the route's request. Only these pay for a second resolution.
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            match = None
    if match is None:
        return UNMATCHED
    return route_label(match.route)


class _QueryTimer:
    """A `connection.execute_wrapper`: adds up the time and number of queries it sees."""

    __slots__ = ("queries", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.queries += 1


class MetricsMiddleware:
    """Counts every request by method, route pattern and status; latency and database time."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        timer = _QueryTimer()
        # What `connection.execute_wrapper(timer)` does for each alias, without a context
        # manager each: this runs on every request (a replayed catalogue read included).
        wrapped = []
        for alias in connections:
            connection = connections[alias]
            if connection not in wrapped:  # (a test mirror may share its connection)
                connection.execute_wrappers.append(timer)
                wrapped.append(connection)
        try:
            response = self.get_response(request)
        finally:
            for connection in wrapped:
                connection.execute_wrappers.remove(timer)
        elapsed = time.perf_counter() - start
        method = request.method if request.method in _METHODS else "other"
        status = response.status_code
        requests, latency, db_time, db_queries = _request_metrics(
            method, _route(request, status), status
        )
        requests.inc()
        latency.observe(elapsed)
        db_time.observe(timer.seconds)
        if timer.queries:
            db_queries.inc(timer.queries)
        return response


@functools.cache  # bounded: methods x route patterns x status codes
def _request_metrics(method: str, route: str, status: int) -> tuple:
    """The labelled series one request updates (`labels()` takes a lock and builds a key)."""
    return (
        HTTP_REQUESTS.labels(method, route, str(status)),
        HTTP_LATENCY.labels(method, route),
        HTTP_DB_TIME.labels(route),
        HTTP_DB_QUERIES.labels(route),
    )


# --- Catalogue cache ------------------------------------------------------------------------


def catalogue_cache(layer: str, result: str) -> None:
    """One catalogue cache look-up (`main/http_cache.py`): layer response|body, hit|miss|error."""
    CATALOGUE_CACHE.labels(layer, result).inc()


# --- Celery -------------------------------------------------------------------------------

_task_started: dict[str, float] = {}


@celery_signals.task_prerun.connect(weak=False)
def _task_prerun(task_id=None, **_kwargs) -> None:
    if task_id is not None:
        _task_started[task_id] = time.perf_counter()


@celery_signals.task_postrun.connect(weak=False)
def _task_postrun(task_id=None, task=None, state=None, **_kwargs) -> None:
    name = getattr(task, "name", None) or "unknown"
    if state is None:
        # Eager with task_eager_propagates (development, tests): the task's exception is
        # on its way to the caller, and no state was recorded. Which one is it?
        state = "retry" if isinstance(sys.exc_info()[1], Retry) else "failure"
    CELERY_TASKS.labels(name, str(state).lower()).inc()
    started = _task_started.pop(task_id, None)
    if started is not None:
        CELERY_TASK_DURATION.labels(name).observe(time.perf_counter() - started)


# --- Business events --------------------------------------------------------------------------
# Counted after commit: a rolled-back checkout placed nothing.


def _after_commit(metric, *labels: str) -> None:
    transaction.on_commit(lambda: metric.labels(*labels).inc(), robust=True)


def order_placed(*, market: str, payment_method: str) -> None:
    """Inside checkout's transaction: one more order placed, once it commits."""
    _after_commit(ORDERS_PLACED, market, payment_method)


def payment_status_changed(*, order, payment) -> None:
    """The order's `payment_status` just moved: `authorized`, `failed` counted after commit."""
    if order.payment_status in PAYMENT_RESULTS:
        provider = getattr(payment, "provider", None) or "none"
        _after_commit(PAYMENTS, order.market, provider, order.payment_status)


# Exception `code` (main/errors.py) → OTP result; any other client error is `refused`.
_OTP_RESULTS = {
    "throttled": "throttled",
    "sms_unavailable": "sms_unavailable",
    "service_unavailable": "cache_unavailable",
}


def _otp_result(exc: BaseException) -> str:
    code = getattr(exc, "code", None) or getattr(exc, "default_code", None)
    if code in _OTP_RESULTS:
        return _OTP_RESULTS[code]
    status = getattr(exc, "status_code", 500)
    return "refused" if 400 <= status < 500 else "error"


def counts_otp_requests(service: Callable[..., str]) -> Callable[..., str]:
    """Decorates `otp_request`: every call counted by market, purpose and result.

    A code sent is counted after commit; a refusal when it is raised. The
    market is the `market` argument (the market the request was made in).
    """
    signature = inspect.signature(service)

    @functools.wraps(service)
    def counted(*args: Any, **kwargs: Any) -> str:
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        market = str(call.arguments.get("market") or "unknown")
        purpose = str(call.arguments.get("purpose") or "unknown")
        try:
            result = service(*args, **kwargs)
        except Exception as exc:
            OTP_REQUESTS.labels(market, purpose, _otp_result(exc)).inc()
            raise
        _after_commit(OTP_REQUESTS, market, purpose, "sent")
        return result

    return counted


class OpenSocket:
    """An admitted WebSocket in `marque_websocket_connections`, until `close()` (idempotent)."""

    __slots__ = ("role",)

    def __init__(self, role: str) -> None:
        self.role: str | None = role
        WEBSOCKETS.labels(role).inc()

    def close(self) -> None:
        if self.role is not None:
            WEBSOCKETS.labels(self.role).dec()
            self.role = None


def websocket_admitted(*, manager: bool) -> OpenSocket:
    return OpenSocket("manager" if manager else "customer")


def websocket_closed(socket: OpenSocket | None) -> None:
    if socket is not None:
        socket.close()


if MULTIPROCESS:
    # A process that exits cleanly takes its open-socket count with it; gunicorn's
    # `child_exit` does the same for its workers (gunicorn_config.py). The pid is read
    # at exit: a process forked after this import removes its own files, not its parent's.
    atexit.register(lambda: multiprocess.mark_process_dead(os.getpid()))


# --- /metrics -------------------------------------------------------------------------------


def _registry():
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def _error(status: int, code: str, detail: str, **headers: str) -> JsonResponse:
    # The one error shape (main/exceptions.py), written here: this module loads before DRF can.
    return JsonResponse({"code": code, "detail": detail}, status=status, headers=headers)


def metrics_view(request):
    """`GET /metrics`: Prometheus exposition, with `Authorization: Bearer <METRICS_TOKEN>`.

    No METRICS_TOKEN: the endpoint does not exist (404). No bearer token: 401;
    a wrong one: 403. The token is compared in constant time.
    """
    token = settings.METRICS_TOKEN
    if not token:
        return _error(404, "not_found", "Not found.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _error(
            401,
            "not_authenticated",
            "Send the metrics token as `Authorization: Bearer <token>`.",
            **{"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _error(403, "permission_denied", "This token may not read the metrics.")
    if request.method not in ("GET", "HEAD"):
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = HttpResponse(encoder(_registry()), content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
