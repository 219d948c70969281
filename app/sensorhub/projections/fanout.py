"""What a live batch tells the rest of the system once it commits.

* Alert changes go to the ``sensorhub_alerts`` channel for ``GET /v1/alerts/stream``: Redis
  pub/sub when Redis is configured (Litestar's ``RedisChannelsPubSubBackend`` on the API side),
  else PostgreSQL NOTIFY sent inside the batch transaction (Litestar's ``AsyncPgChannelsBackend``).
* The projection's cache stamp (generation + checkpoint) is advanced in Redis, so cached
  read-model responses keyed by the old stamp are never served again (see ``cache``).

A rebuild replays into a shadow generation and emits none of this.
"""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis
from litestar.stores.redis import RedisStore

from sensorhub.application.stored_events import FeedCursor
from sensorhub.db import Conn
from sensorhub.observability import get_logger
from sensorhub.projections.model import Effects
from sensorhub.projections.store import stamp_of

ALERTS_CHANNEL = "sensorhub_alerts"
CACHE_NAMESPACE = "sensorhub:rm"
STAMP_TTL_S = 15  # refreshed by every leader heartbeat; gone soon after the projector is

log = get_logger("sensorhub.projections")


def stamp_key(projection: str) -> str:
    return f"stamp:{projection}"


class Fanout:
    def __init__(self, redis: aioredis.Redis | None) -> None:
        self._redis = redis
        self._stamps = RedisStore(redis, namespace=CACHE_NAMESPACE) if redis is not None else None

    async def in_transaction(self, conn: Conn, effects: Effects) -> None:
        """Without Redis: NOTIFY is transactional, delivered only if the batch commits. One
        statement for the whole batch (a catch-up batch can carry thousands of changes);
        ``pg_notify`` runs once per array element, in array order."""
        if self._redis is None and effects.alert_changes:
            await conn.execute(
                "SELECT pg_notify($1, change) FROM unnest($2::text[]) AS change",
                ALERTS_CHANNEL,
                [msgspec.json.encode(change).decode() for change in effects.alert_changes],
            )

    async def after_commit(self, projection: str, generation: int, cursor: FeedCursor, effects: Effects) -> None:
        if self._redis is None or self._stamps is None:
            return
        try:
            await self._stamps.set(stamp_key(projection), stamp_of(generation, cursor), expires_in=STAMP_TTL_S)
            if effects.purge_cache:
                await self._purge_cache(projection)
            if effects.alert_changes:
                # The PUBLISHes RedisChannelsPubSubBackend.publish would send one by one (its script
                # publishes to the channel name as given), pipelined: one round trip, same order.
                pipe = self._redis.pipeline(transaction=False)
                for change in effects.alert_changes:
                    pipe.publish(ALERTS_CHANNEL, msgspec.json.encode(change))
                await pipe.execute()
        except Exception as exc:  # Redis is optional: readers fall back to the database
            log.warning("redis fan-out failed", projection=projection, error=repr(exc))

    async def _purge_cache(self, projection: str) -> None:
        """Delete every cached response of ``projection`` (keys ``<namespace>:<projection>:<stamp>:…``,
        see ``cache.ReadCache``); the stamp was advanced first, so none is written back stale."""
        assert self._redis is not None
        batch: list[bytes | str] = []
        async for key in self._redis.scan_iter(match=f"{CACHE_NAMESPACE}:{projection}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await self._redis.delete(*batch)
                batch.clear()
        if batch:
            await self._redis.delete(*batch)

    async def refresh_stamp(self, projection: str, generation: int, cursor: FeedCursor) -> None:
        await self.after_commit(projection, generation, cursor, Effects())

    async def forget_stamp(self, projection: str) -> None:
        """After a swap every cached entry of the projection is obsolete."""
        if self._stamps is not None:
            try:
                await self._stamps.delete(stamp_key(projection))
            except Exception as exc:
                log.warning("redis stamp not cleared", projection=projection, error=repr(exc))
