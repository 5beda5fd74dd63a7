"""The read replica (docs/REPLICA.md): reads go there only where a view says so.

`DATABASE_REPLICA_URL` adds the `replica` alias. `ReplicaRouter` sends every
write, and every read outside a *replica scope*, to `default`. A scope is
declared by a view (`ReplicaReadsMixin`: the catalogue, the manager analytics
and the CSV export) or around a block (`replica_reads()`); inside it a read
still goes to the primary when:

- the request is not a GET/HEAD/OPTIONS (the mixin opens no scope for it);
- the primary is inside `transaction.atomic` (what is read there is about to be
  written);
- anything was written in the scope (`db_for_write` was asked), except the
  audit log, which views that only read write and never read back;
- the signed-in user wrote recently: after any non-safe request a user's reads
  stay on the primary for `DATABASE_REPLICA_PIN_SECONDS` (`ReplicaPinMiddleware`
  stores the pin in the cache; a cache that fails keeps them on the primary);
- the scope has a *fence*: a cache key holding a version that moves after every
  committed write to what it reads (the catalogue's). When a new version is first
  seen, the primary's WAL position is noted with it; until the replica has
  replayed up to there, reads stay on the primary, so nothing built from a
  lagging replica is cached under the new version;
- the replica cannot be reached: this process then reads the primary for
  `RETRY_AFTER_SECONDS` before trying again.

Authentication, permissions and throttles run before the scope opens, so they
always read the primary. Without the alias everything reads the primary.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from rest_framework.permissions import SAFE_METHODS

from main.throttling import CACHE_ERRORS

logger = logging.getLogger("marque.db")

DEFAULT = "default"
REPLICA = "replica"
# After the replica (or the cache) failed, this process does without it for this long.
RETRY_AFTER_SECONDS = 10
# Written by code that only reads (the export's audit row) and never read back in the request.
UNPINNED_WRITES = frozenset({"store_manager.manageractivitylog"})
PIN_KEY = "replica:pin:{user_id}"
FENCE_KEY = "replica:fence:{key}"
FENCE_TTL_SECONDS = 24 * 3600

_current: ContextVar[ReplicaScope | None] = ContextVar("replica_scope", default=None)
# time.monotonic() until which this process does without the replica / the cache.
_replica_down_until = 0.0
_cache_down_until = 0.0


def replica_configured() -> bool:
    """The `replica` alias exists and may be read (the test settings keep it idle)."""
    return settings.DATABASE_REPLICA_READS and REPLICA in connections.settings


def _clock() -> float:
    """Wall-clock seconds: pins are shared by every process through the cache."""
    return time.time()


class ReplicaScope:
    """Code whose reads may go to the replica; what it decided is kept for its lifetime."""

    def __init__(self, *, user=None, fence_key: str | None = None, active: bool = True):
        self.user_id = user.pk if user is not None and user.is_authenticated else None
        self.fence_key = fence_key
        self.active = active
        self.wrote = False
        self._replica_ok: bool | None = None  # decided at the first read that may use it

    def activate(self, *, user=None) -> None:
        if user is not None and user.is_authenticated:
            self.user_id = user.pk
        self.active = True

    def alias_for_read(self) -> str:
        if not self.active or self.wrote or not replica_configured():
            return DEFAULT
        if connections[DEFAULT].in_atomic_block:
            return DEFAULT
        if self._replica_ok is None:
            self._replica_ok = self._replica_allowed()
        return REPLICA if self._replica_ok else DEFAULT

    def _replica_allowed(self) -> bool:
        pin = PIN_KEY.format(user_id=self.user_id) if self.user_id is not None else None
        fence = FENCE_KEY.format(key=self.fence_key) if self.fence_key else None
        keys = [key for key in (pin, self.fence_key, fence) if key]
        found = _cache_get_many(keys) if keys else {}
        if found is None:  # the cache failed: we cannot know, so the primary
            return False
        if pin and found.get(pin, 0) > _clock():
            return False
        if not replica_available():
            return False
        if not fence:
            return True
        version = found.get(self.fence_key)
        if version is None:  # the next build makes a version and caches under it: primary
            return False
        # (version, the primary's WAL position when it was first seen, replayed there yet?)
        state = found.get(fence)
        if state is not None and state[0] == version:
            _, lsn, replayed = state
            if replayed:
                return True
        else:
            # The version moved after its change committed: the primary is at least there.
            lsn = _primary_lsn()
        replayed = _replica_replayed(lsn)
        if state != (version, lsn, replayed):
            _cache_set(fence, (version, lsn, replayed), FENCE_TTL_SECONDS)
        return replayed


@contextmanager
def replica_reads(
    *, user=None, fence_key: str | None = None, active: bool = True
) -> Iterator[ReplicaScope]:
    """Reads in this block may go to the replica; as a decorator too. An outer scope rules."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    scope = ReplicaScope(user=user, fence_key=fence_key, active=active)
    with _entered(scope):
        yield scope


@contextmanager
def _entered(scope: ReplicaScope) -> Iterator[None]:
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)


def _iterate_in(scope: ReplicaScope, iterable: Iterable) -> Iterator:
    """`iterable`, each item produced inside `scope` (a streamed body, after its view returned)."""
    iterator = iter(iterable)
    while True:
        with _entered(scope):
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


class ReplicaRouter:
    """DATABASE_ROUTERS: reads in a replica scope may go to the replica; all else to default."""

    def db_for_read(self, model, **hints):
        scope = _current.get()
        return scope.alias_for_read() if scope is not None else DEFAULT

    def db_for_write(self, model, **hints):
        scope = _current.get()
        if scope is not None and model._meta.label_lower not in UNPINNED_WRITES:
            scope.wrote = True
        return DEFAULT

    def allow_relation(self, obj1, obj2, **hints):
        if {obj1._state.db, obj2._state.db} <= {DEFAULT, REPLICA}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica replays the primary's schema: it is never migrated itself.
        return db == DEFAULT


# --- Pins: a user who wrote reads the primary for a while ------------------------------------


def pin_to_primary(user_id) -> None:
    """The user's reads stay on the primary for DATABASE_REPLICA_PIN_SECONDS."""
    seconds = settings.DATABASE_REPLICA_PIN_SECONDS
    if seconds > 0:
        key = PIN_KEY.format(user_id=user_id)
        _cache_set(key, _clock() + seconds, math.ceil(seconds) + 1)


class ReplicaPinMiddleware:
    """After a non-safe request of a signed-in user, pin that user to the primary.

    Runs after the view, so a JWT user authenticated by DRF is known
    (`request.user`); the pin is stored before the response leaves, so the
    client's next request sees it. A no-op without a replica.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method not in SAFE_METHODS and replica_configured():
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                pin_to_primary(user.pk)
        return response


# --- The replica's health and lag ------------------------------------------------------------


def replica_available() -> bool:
    """The replica answers (connecting if needed); False for a while after it did not."""
    global _replica_down_until
    if not replica_configured() or time.monotonic() < _replica_down_until:
        return False
    try:
        # Connects, or checks a reused connection once per request (CONN_HEALTH_CHECKS).
        connections[REPLICA].cursor().close()
    except DatabaseError as exc:
        _replica_down_until = time.monotonic() + RETRY_AFTER_SECONDS
        logger.warning(
            "Replica unavailable, reading the primary for %ss: %r", RETRY_AFTER_SECONDS, exc
        )
        return False
    return True


def _primary_lsn() -> str | None:
    """The primary's current WAL position (None off PostgreSQL: a test mirror, one database)."""
    primary = connections[DEFAULT]
    if primary.vendor != "postgresql":
        return None
    with primary.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def _replica_replayed(lsn: str | None) -> bool:
    """The replica has replayed the primary's WAL up to `lsn` (a server not in recovery has)."""
    global _replica_down_until
    if lsn is None:
        return True
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(
                "SELECT NOT pg_is_in_recovery()"
                " OR coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false)",
                [lsn],
            )
            return cursor.fetchone()[0]
    except DatabaseError as exc:
        _replica_down_until = time.monotonic() + RETRY_AFTER_SECONDS
        logger.warning("Replica position unknown, reading the primary: %r", exc)
        return False


# --- The cache, which may be down -------------------------------------------------------------


def _cache_get_many(keys: list[str]) -> dict | None:
    if time.monotonic() < _cache_down_until:
        return None
    try:
        return cache.get_many(keys)
    except CACHE_ERRORS as exc:
        _cache_failed(exc)
        return None


def _cache_set(key: str, value, timeout: int) -> None:
    if time.monotonic() < _cache_down_until:
        return
    try:
        cache.set(key, value, timeout=timeout)
    except CACHE_ERRORS as exc:
        _cache_failed(exc)


def _cache_failed(exc: Exception) -> None:
    global _cache_down_until
    _cache_down_until = time.monotonic() + RETRY_AFTER_SECONDS
    logger.warning("Cache unavailable, replica reads stay on the primary: %r", exc)


# --- DRF views --------------------------------------------------------------------------------


class ReplicaReadsMixin:
    """For DRF views: the handler of a GET/HEAD/OPTIONS may read the replica.

    The scope opens after `initial()` (authentication, permissions, throttles:
    all on the primary). A streamed body is read in the same scope while it is
    sent, after the view has returned. `replica_fence_key`: see the module.
    """

    replica_fence_key: str | None = None

    def dispatch(self, request, *args, **kwargs):
        with replica_reads(fence_key=self.replica_fence_key, active=False) as scope:
            self.replica_scope = scope
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in SAFE_METHODS:
            self.replica_scope.activate(user=request.user)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(response, "streaming", False) and self.replica_scope.active:
            response.streaming_content = _iterate_in(self.replica_scope, response.streaming_content)
        return response
