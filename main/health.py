"""Probes for the load balancer and the orchestrator.

`/healthz`: the process answers (touches nothing else). `/readyz`: the
database and, when configured, Redis answer; 503 otherwise. A read replica is
reported but not required: while it is down, reads go to the primary
(docs/REPLICA.md), so taking every instance out of rotation would only hurt.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from main.db_router import REPLICA, replica_available, replica_configured

logger = logging.getLogger("marque.health")


def _check_database() -> str:
    try:
        for alias in connections:
            if alias == REPLICA:
                continue
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    except Exception:  # any failure means "not ready", whatever the driver raised
        logger.warning("readyz: database unavailable", exc_info=True)
        return "unavailable"
    return "ok"


def _check_redis() -> str:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        client.ping()
        client.close()
    except Exception:  # connection refused, timeout, auth…
        logger.warning("readyz: redis unavailable", exc_info=True)
        return "unavailable"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis()
    failed = ", ".join(name for name, state in checks.items() if state != "ok")
    if replica_configured():  # reported, not required
        checks["replica"] = "ok" if replica_available() else "unavailable"
    if not failed:
        return JsonResponse({"status": "ok", "checks": checks})
    return JsonResponse(
        {"code": "not_ready", "detail": f"Not ready: {failed} unavailable.", "checks": checks},
        status=503,
    )
