"""A cache of hot read-model responses that can never hide an update beyond the projection's lag.

Entries are keyed by the projection's *stamp* (live generation + checkpoint). The projector
advances the stamp in Redis right after each batch commits, so the next read looks up a new
key; an entry stored under an old stamp is simply never asked for again (and expires).
A read that finds no stamp (projector gone, Redis restarted) skips the cache.

Without Redis the entries live in this process (Litestar ``MemoryStore``) and the stamp is
read from PostgreSQL (one primary-key lookup), which still saves the read model query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import redis.asyncio as aioredis
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from prometheus_client import Counter

from sensorhub.observability import get_logger
from sensorhub.projections.fanout import CACHE_NAMESPACE, stamp_key
from sensorhub.projections.store import live_stamp

CACHE_LOOKUPS = Counter("sensorhub_read_cache_lookups_total", "Read-model cache lookups", ["result"])
log = get_logger("sensorhub.cache")


class ReadCache:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis | None, ttl_s: int) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._redis_backed = redis is not None
        self._store: Store = RedisStore(redis, namespace=CACHE_NAMESPACE) if redis is not None else MemoryStore()

    async def stamp(self, projection: str) -> str | None:
        if self._redis_backed:
            raw = await self._store.get(stamp_key(projection))
            return raw.decode() if raw is not None else None
        async with self._pool.acquire() as conn:
            return await live_stamp(conn, projection)

    async def get_or_load(self, projection: str, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        try:
            stamp = await self.stamp(projection)
            entry_key = f"{projection}:{stamp}:{key}"
            cached = await self._store.get(entry_key) if stamp is not None else None
        except Exception as exc:  # the cache is an optimisation: never fail a read over it
            log.warning("read cache unavailable", error=repr(exc))
            CACHE_LOOKUPS.labels(result="error").inc()
            return await load()
        if cached is not None:
            CACHE_LOOKUPS.labels(result="hit").inc()
            return cached
        CACHE_LOOKUPS.labels(result="miss" if stamp is not None else "bypass").inc()
        body = await load()
        if stamp is not None:
            try:
                await self._store.set(entry_key, body, expires_in=self._ttl_s)
            except Exception as exc:
                log.warning("read cache not written", error=repr(exc))
        return body
