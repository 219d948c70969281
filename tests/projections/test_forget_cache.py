"""A forget purges the registry's cached responses from Redis (they may hold the subject's personal
data until they expire); other projections' entries and the stamp stay."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
from litestar.stores.redis import RedisStore
from sensorhub.application.stored_events import FeedCursor
from sensorhub.projections.cache import ReadCache
from sensorhub.projections.fanout import CACHE_NAMESPACE, Fanout, stamp_key
from sensorhub.projections.model import Effects


async def _keys(redis: aioredis.Redis, pattern: str) -> list[str]:
    return sorted([k.decode() async for k in redis.scan_iter(match=f"{CACHE_NAMESPACE}:{pattern}")])


async def test_a_batch_with_a_forget_purges_the_registry_cache(redis_url: str, pool: asyncpg.Pool) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        fanout, cache = Fanout(redis), ReadCache(pool, redis, 60)
        await fanout.after_commit("registry", 1, FeedCursor(5, 9), Effects())
        await fanout.after_commit("alert_history", 1, FeedCursor(5, 9), Effects())

        async def load() -> bytes:
            return b'{"owner": {"name": "Ada Lovelace"}}'

        for key in ("device:d-1", "devices:None:None:None:None:50"):
            await cache.get_or_load("registry", key, load)
        await cache.get_or_load("alert_history", "history:d-1", load)
        stored = await _keys(redis, "*")
        assert stored == [
            f"{CACHE_NAMESPACE}:alert_history:1.5.9:history:d-1",
            f"{CACHE_NAMESPACE}:registry:1.5.9:device:d-1",
            f"{CACHE_NAMESPACE}:registry:1.5.9:devices:None:None:None:None:50",
            f"{CACHE_NAMESPACE}:stamp:alert_history",
            f"{CACHE_NAMESPACE}:stamp:registry",
        ]

        await fanout.after_commit("registry", 1, FeedCursor(6, 10), Effects())  # no forget: entries stay
        assert len(await _keys(redis, "registry:*")) == 2
        await fanout.after_commit("registry", 1, FeedCursor(7, 11), Effects(purge_cache=True))
        left = await _keys(redis, "*")
        assert left == [
            f"{CACHE_NAMESPACE}:alert_history:1.5.9:history:d-1",
            f"{CACHE_NAMESPACE}:stamp:alert_history",
            f"{CACHE_NAMESPACE}:stamp:registry",
        ]
        assert await RedisStore(redis, namespace=CACHE_NAMESPACE).get(stamp_key("registry")) == b"1.7.11"
    finally:
        await redis.aclose()
