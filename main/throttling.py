"""What a throttle does when its counters (the shared cache, Redis) cannot be reached.

Reads and sign-in steps that the database guards on its own fail *open*: the
request goes on unthrottled for the length of the outage (a warning is logged).
Steps whose limits exist only in the cache (sending an SMS costs money) fail
*closed* with 503 `service_unavailable` and Retry-After.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from main.exceptions import ServiceUnavailable

logger = logging.getLogger("marque.cache")

# What a cache backend raises when its server is down, slow or restarting.
CACHE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


class CacheUnavailable(ServiceUnavailable):
    default_detail = "This action is briefly unavailable. Please try again in a moment."
    retry_after = 30


class FailOpenRateThrottle(SimpleRateThrottle):
    """Counts in the cache; lets the request through while the cache is down."""

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            logger.warning("Throttle %s skipped, cache unavailable: %r", self.scope, exc)
            return True


class FailClosedRateThrottle(SimpleRateThrottle):
    """Counts in the cache; refuses with 503 while the cache is down."""

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            logger.warning("Throttle %s refused a request, cache unavailable: %r", self.scope, exc)
            raise CacheUnavailable() from exc
