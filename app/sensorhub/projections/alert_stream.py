"""The transport behind ``GET /v1/alerts/stream``: alert changes fanned out to every API replica
(Redis pub/sub, or PostgreSQL LISTEN/NOTIFY without Redis) through Litestar channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import redis.asyncio as aioredis
from litestar.channels import ChannelsBackend, ChannelsPlugin
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sensorhub.observability import get_logger
from sensorhub.projections.fanout import ALERTS_CHANNEL
from sensorhub.settings import Settings

RESUBSCRIBE_MIN_S, RESUBSCRIBE_MAX_S = 0.1, 2.0  # backoff of the Redis subscription after an outage
log = get_logger("sensorhub.http")


class ResilientRedisPubSubBackend(RedisChannelsPubSubBackend):
    """Redis pub/sub that outlives a Redis outage.

    The stock backend lets a ``ConnectionError`` end the plugin's one ``stream_events()`` task, and
    every SSE client then stays silent after Redis returns. Here the read is retried with a backoff
    (redis-py reconnects and re-subscribes); changes published while Redis was down are lost."""

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        delay = RESUBSCRIBE_MIN_S
        while True:
            try:
                async for event in super().stream_events():
                    delay = RESUBSCRIBE_MIN_S
                    yield event
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("alert stream subscription lost; resubscribing", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESUBSCRIBE_MAX_S)


def alert_channels(settings: Settings) -> ChannelsPlugin:
    """Redis pub/sub across replicas, or PostgreSQL LISTEN/NOTIFY when Redis is not configured
    (the projector publishes on the same channel, see ``fanout``)."""
    backend: ChannelsBackend
    if settings.redis_url:
        backend = ResilientRedisPubSubBackend(redis=aioredis.Redis.from_url(settings.redis_url))
    else:
        log.warning("redis not configured: alert stream fan-out through PostgreSQL NOTIFY")
        backend = AsyncPgChannelsBackend(dsn=settings.database_url)
    return ChannelsPlugin(backend=backend, channels=[ALERTS_CHANNEL], subscriber_max_backlog=1000)
