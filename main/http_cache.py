"""HTTP and server-side caching for public catalogue reads (categories, products, banners).

Three pieces, small on purpose:

- `HttpCacheMixin` (for DRF views): every successful GET gets a strong `ETag`
  computed from the rendered body, `Cache-Control` (`public, max-age=N`, or
  `private, max-age=0, must-revalidate` when the view says the body holds
  per-user data) and `Vary: X-Market, Authorization, Accept-Language`, so no
  shared cache serves one market's prices to another. A conditional GET whose
  `If-None-Match` matches answers `304 Not Modified` with an empty body.
- `cached_data(request, market=..., build=...)`: the server-side cache of a
  response *body* (plain data, before rendering), keyed by catalogue version,
  market, language, path and the sorted query string.
- `ReplayCachedResponseMixin` (for DRF views): an anonymous GET whose
  response is in the cache is answered from there before DRF starts: the
  rendered bytes and headers, checked against the catalogue version in the
  same round trip to Redis (one `MGET`), and a matching `If-None-Match` is a
  304 without rendering or hashing anything.
- `catalogue_cache_invalidate()`: the one function to call when catalogue
  data, prices or stock change. It moves the catalogue version, so every key
  written before is never read again (and expires on its own). Writes call
  `catalogue_cache_invalidate_on_commit()` inside their transaction.

The cache is an accelerator, never a dependency: while Redis is down every
read is built from the database and every invalidation is skipped with a
warning (the entries written before the outage expire within
CATALOGUE_CACHE_SECONDS; a restarted Redis starts empty anyway).

Settings (read with defaults): `CATALOGUE_CACHE_SECONDS` (server-side TTL,
default 60) and `CATALOGUE_HTTP_MAX_AGE` (browser/CDN max-age, default 60).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import get_language

from main import metrics
from main.exceptions import ApplicationError
from main.request_market import anonymous_market
from main.throttling import CACHE_ERRORS

logger = logging.getLogger("marque.cache")

VARY_HEADERS = ("X-Market", "Authorization", "Accept-Language")
VERSION_KEY = "catalogue:version"
_COPIED_HEADERS = ("ETag", "Cache-Control", "Vary")


def catalogue_cache_invalidate() -> None:
    """Forget every cached catalogue body (all markets). Cheap: one cache write.

    Call it after any change to categories, products, prices, SKUs/stock,
    reviews' approval or banners. A random version (not a counter) means an
    evicted version key can never bring back stale entries. Never raises.
    """
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except CACHE_ERRORS as exc:
        logger.warning("Catalogue cache not invalidated, cache unavailable: %r", exc)


def catalogue_cache_invalidate_on_commit() -> None:
    """Inside a write's transaction: invalidate once it commits (nothing on a rollback)."""
    transaction.on_commit(catalogue_cache_invalidate, robust=True)


def _base(request):
    """The Django request under a DRF one: what a request-long note is kept on."""
    return getattr(request, "_request", request)


def _cache_down(request) -> bool:
    return getattr(_base(request), "_catalogue_cache_down", False)


def _note_cache_down(request, message: str, exc: Exception) -> None:
    """The cache failed: the rest of this request does without it (one timeout, not several)."""
    _base(request)._catalogue_cache_down = True
    logger.warning(message, request.path, exc)


def _catalogue_version(request=None) -> str:
    """The current catalogue version; read once per request (kept on the request)."""
    version = getattr(_base(request), "_catalogue_version", None)
    if version is not None:
        return version
    version = cache.get(VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        # add(): if another process set it meanwhile, use theirs.
        if not cache.add(VERSION_KEY, version, timeout=None):
            version = cache.get(VERSION_KEY, version)
    if request is not None:
        _base(request)._catalogue_version = version
    return version


def _digest(request, market: str, namespace: str, ignore: tuple[str, ...] = ()) -> str:
    query = urlencode(
        sorted(item for item in request.GET.lists() if item[0] not in ignore), doseq=True
    )
    host = f"{request.scheme}://{request.get_host()}"  # bodies hold absolute URLs
    raw = f"{market}:{get_language() or ''}:{namespace}:{host}{request.path}?{query}"
    return hashlib.sha256(raw.encode()).hexdigest()


def cache_key(request, *, market: str, namespace: str = "", ignore: tuple[str, ...] = ()) -> str:
    """`catalogue:<version>:<market>:<language>:<namespace>:<path>?<sorted query>` (hashed).

    Query parameters named in `ignore` are left out (a total shared by every
    page and ordering of one filter).
    """
    digest = _digest(request, market, namespace, ignore)
    return f"catalogue:{_catalogue_version(request)}:{market}:{digest}"


def cached_data(
    request,
    *,
    market: str,
    build: Callable[[], Any],
    namespace: str = "",
    timeout: int | None = None,
    ignore: tuple[str, ...] = (),
) -> Any:
    """The body for this market and query from the cache, else `build()` (then stored).

    `build` must return plain data (dicts, lists, strings) that does not depend
    on who is asking, only on the market and the request's path and query
    (minus the parameters in `ignore`). A `timeout` (or CATALOGUE_CACHE_SECONDS)
    of 0 means no caching at all: `build()`, without touching the cache.
    """
    ttl = timeout if timeout is not None else settings.CATALOGUE_CACHE_SECONDS
    if ttl == 0:
        return build()
    if _cache_down(request):
        metrics.catalogue_cache("body", "error")
        return build()
    try:
        key = cache_key(request, market=market, namespace=namespace, ignore=ignore)
        data = cache.get(key)
    except CACHE_ERRORS as exc:  # slower, not broken: answer from the database
        metrics.catalogue_cache("body", "error")
        _note_cache_down(request, "Catalogue cache unavailable, building %s: %r", exc)
        return build()
    metrics.catalogue_cache("body", "miss" if data is None else "hit")
    if data is None:
        data = build()
        try:
            cache.set(key, data, timeout=ttl)
        except CACHE_ERRORS as exc:
            _note_cache_down(request, "Catalogue cache unavailable, %s not stored: %r", exc)
    return data


# --- Whole responses for anonymous GETs ------------------------------------------------------

_REPLAYED_HEADERS = ("Content-Type", "Allow", "Vary", "Cache-Control", "ETag")
_JSON_ACCEPTS = ("*/*", "application/json")


def replayable(request, *, json_only: bool) -> bool:
    """An anonymous GET/HEAD answered in JSON: its response depends only on market, language, URL.

    `json_only`: JSON is the view's only renderer, so any `Accept` that allows
    it gets JSON (else the exact JSON `Accept` values only).
    """
    if request.method not in ("GET", "HEAD") or "HTTP_AUTHORIZATION" in request.META:
        return False
    if "format" in request.GET:
        return False
    accept = request.META.get("HTTP_ACCEPT")
    if accept is None or accept in _JSON_ACCEPTS:  # no header at all: JSON
        return True
    return json_only and ("application/json" in accept or "*/*" in accept)


def _response_key(request, *, market: str, namespace: str) -> str:
    return f"catalogue:response:{market}:{_digest(request, market, namespace)}"


def cached_response(request, *, market: str, namespace: str):
    """The stored response for this anonymous request if the catalogue has not moved, else None.

    One round trip: the version and the response are read together.
    """
    key = _response_key(request, market=market, namespace=namespace)
    try:
        found = cache.get_many([VERSION_KEY, key])
    except CACHE_ERRORS as exc:
        metrics.catalogue_cache("response", "error")
        _note_cache_down(request, "Catalogue cache unavailable, building %s: %r", exc)
        return None
    version, stored = found.get(VERSION_KEY), found.get(key)
    if version is not None:
        request._catalogue_version = version  # the build on a miss reads it no more
    if version is None or stored is None or stored[0] != version:
        metrics.catalogue_cache("response", "miss")
        return None
    metrics.catalogue_cache("response", "hit")
    _, content, headers = stored
    if _matches(request.META.get("HTTP_IF_NONE_MATCH", ""), headers["ETag"]):
        response = HttpResponseNotModified()
        for header in _COPIED_HEADERS:
            if header in headers:
                response[header] = headers[header]
        return response
    response = HttpResponse(content)
    for header, value in headers.items():
        response[header] = value
    return response


def store_response(request, response, *, market: str, namespace: str) -> None:
    """Keep a rendered 200 response to this anonymous request for `cached_response`."""
    if _cache_down(request):
        return
    key = _response_key(request, market=market, namespace=namespace)
    headers = {name: response[name] for name in _REPLAYED_HEADERS if response.has_header(name)}
    try:
        value = (_catalogue_version(request), bytes(response.content), headers)
        cache.set(key, value, timeout=settings.CATALOGUE_CACHE_SECONDS)
    except CACHE_ERRORS as exc:
        _note_cache_down(request, "Catalogue cache unavailable, %s not stored: %r", exc)


def etag_for(content: bytes, salt: str = "") -> str:
    return '"' + hashlib.sha256(salt.encode() + b"|" + content).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison, as RFC 9110 asks for If-None-Match.
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates


def apply_http_caching(
    request,
    response,
    *,
    private: bool = False,
    max_age: int | None = None,
    salt: str = "",
    store: Callable[[Any], None] | None = None,
):
    """Add Vary, and for a 200 GET/HEAD also ETag + Cache-Control; 304 when the ETag matches.

    `response` must be rendered (or renderable). `salt` goes into the ETag with
    the body (the mixin passes the market), so two markets never share a tag
    even when their bodies happen to be equal. `store` receives the finished
    200 response (before any 304). Returns the response to send.
    """
    patch_vary_headers(response, VARY_HEADERS)
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    if private:
        patch_cache_control(response, private=True, max_age=0, must_revalidate=True)
    else:
        age = max_age if max_age is not None else settings.CATALOGUE_HTTP_MAX_AGE
        patch_cache_control(response, public=True, max_age=age)
    etag = etag_for(response.content, salt)
    response["ETag"] = etag
    if store is not None:
        store(response)
    if _matches(request.headers.get("If-None-Match", ""), etag):
        not_modified = HttpResponseNotModified()
        for header in _COPIED_HEADERS:
            not_modified[header] = response[header]
        return not_modified
    return response


class HttpCacheMixin:
    """For DRF views: `apply_http_caching` on every response.

    A view marks a response as per-user by setting `self.cache_private = True`
    (e.g. when it adds `in_wishlist` for a signed-in user) or overriding
    `is_private_response()`. `http_max_age` overrides the default max-age.
    """

    cache_private = False
    http_max_age: int | None = None
    # True: anonymous JSON GETs are answered from the cache when they can be (`cached_response`).
    replay_anonymous = False

    def is_private_response(self, request) -> bool:
        return self.cache_private

    def _replays(self) -> bool:
        return self.replay_anonymous and settings.CATALOGUE_CACHE_SECONDS > 0

    def _json_only(self) -> bool:
        return len(self.renderer_classes) == 1

    def _replay_namespace(self) -> str:
        # GET and HEAD share their stored response.
        return f"{type(self).__name__}.{self.action_map.get('get', '')}.response"

    def dispatch(self, request, *args, **kwargs):
        if self._replays() and replayable(request, json_only=self._json_only()):
            try:
                market = anonymous_market(request)
            except ApplicationError:  # an invalid market: DRF answers the 400
                market = None
            if market is not None:
                response = cached_response(
                    request, market=market, namespace=self._replay_namespace()
                )
                if response is not None:
                    return response
        return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        private = self.is_private_response(request)
        market = getattr(request, "market", None)
        store = None
        if (
            self._replays()
            and not private
            and market
            and replayable(request._request, json_only=self._json_only())
        ):

            def store(finished):
                store_response(
                    request._request, finished, market=market, namespace=self._replay_namespace()
                )

        return apply_http_caching(
            request,
            response,
            private=private,
            max_age=self.http_max_age,
            salt=str(market or ""),
            store=store,
        )
