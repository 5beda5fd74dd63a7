"""The Redis cache backend keeps one client per connection pool and behaves like Django's."""

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from main.cache import RedisCache


def test_one_client_serves_every_call_and_values_round_trip(settings):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: no Redis to talk to")
    cache = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "marque-backend-test"})
    assert isinstance(cache, DjangoRedisCache)
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    cache.set("k", {"bytes": b"\x00\xff", "n": 1}, timeout=5)
    assert cache.get_many(["k", "missing"]) == {"k": {"bytes": b"\x00\xff", "n": 1}}
    cache.delete("k")
    assert cache.get("k") is None


def test_the_configured_default_cache_uses_it_with_redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the local-memory cache is configured")
    assert isinstance(caches["default"], RedisCache)
