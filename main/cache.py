"""The Redis cache backend: Django's own, with one client object per connection pool.

Django's `RedisCacheClient` builds a new `redis.Redis` for every cache call;
with redis-py 7 that means filling its table of response callbacks each time,
which cost a replayed catalogue response a quarter of its CPU. A client is
thread-safe and holds no connection of its own (the pool does), so one per
pool serves every call. Behaviour is otherwise Django's.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
