"""What a running process holds, typed: the services container, readiness checks and the Redis client.

Built by :mod:`sensorhub.bootstrap` (the only place that constructs adapters); the HTTP layer and
the worker commands receive it. Imports adapters and below, never the HTTP layer or bootstrap.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import redis.asyncio as aioredis

from sensorhub.application.ports import EventStore, IdempotencyRecords, SubjectKeys
from sensorhub.application.unit_of_work import CommandContext, UnitOfWork, utc_now
from sensorhub.eventstore.codec import EventTypeRegistry
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.ingest.service import ReadingsIngest
from sensorhub.observability import REDIS_UP, get_logger
from sensorhub.projections.cache import ReadCache
from sensorhub.settings import Settings
from sensorhub.timeseries.compression import Method
from sensorhub.timeseries.store import TimeSeriesStore

log = get_logger("sensorhub")

# A unit of work for one command (``None``: no actor/correlation, e.g. a read through the event store).
UnitOfWorkFactory = Callable[[CommandContext | None], AbstractAsyncContextManager[UnitOfWork]]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    critical: bool = True


ReadinessCheck = Callable[["Services"], Awaitable[CheckResult]]


@dataclass(frozen=True)
class TimeSeries:
    """The store for the detected engine and the ingest that writes into it."""

    store: TimeSeriesStore
    ingest: ReadingsIngest
    compression: Method = "packed"  # what SENSORHUB_COMPRESSION resolved to on this server


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis | None
    codec: EventTypeRegistry
    events: EventStore  # the event store on the pool, for reads outside a command
    unit_of_work: UnitOfWorkFactory
    read_cache: ReadCache
    idempotency: IdempotencyRecords
    subject_keys: SubjectKeys  # personal data's keys, on the pool (reads of the feed, forgetting)
    # None when the time-series engine is unavailable (``/health/ready`` says why).
    timeseries: TimeSeries | None = None
    # Wakes projectors after appends commit (coalesced NOTIFY); None: they only poll.
    append_notifier: AppendNotifier | None = None
    # name -> check; ``/health/ready`` runs them all (database, redis, timeseries, projector).
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    clock: Callable[[], datetime] = utc_now


async def redis_ping(client: aioredis.Redis) -> None:
    result = client.ping()  # typed as ``Awaitable[bool] | bool`` by redis-py
    if inspect.isawaitable(result):
        await result


async def connect_redis(settings: Settings) -> aioredis.Redis | None:
    """A client for ``redis_url`` (None when not configured); unreachable at start-up only degrades."""
    if settings.redis_url is None:
        log.warning("redis not configured: using in-process cache and fan-out (single process only)")
        REDIS_UP.set(0)
        return None
    client: aioredis.Redis = aioredis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=10
    )
    try:
        await redis_ping(client)
        REDIS_UP.set(1)
    except Exception as exc:
        REDIS_UP.set(0)
        log.warning("redis unreachable at start-up: degraded until it returns", error=str(exc))
    return client
