"""Wiring in one place: what a running service process holds.

:func:`open_services` is an async context manager used by the HTTP lifespan
and by the worker CLIs: it opens the pool and the Redis client, applies
migrations where configured, and closes everything on exit.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from sensorhub import apikeys, migrations
from sensorhub.db import create_pool
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.observability import REDIS_UP, get_logger
from sensorhub.projections import store as projection_store
from sensorhub.settings import Settings
from sensorhub.timeseries import wiring as timeseries_wiring

log = get_logger("sensorhub")


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    critical: bool = True


ReadinessCheck = Callable[["Services"], Awaitable[CheckResult]]


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis | None
    # name -> check; ``/health/ready`` runs them all. Adapters add their own.
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    # Extra components keyed by name, for adapters that are optional at runtime.
    extras: dict[str, Any] = field(default_factory=dict)
    # Wakes projectors after appends commit (coalesced NOTIFY); None: they only poll.
    append_notifier: AppendNotifier | None = None


async def redis_ping(client: aioredis.Redis) -> None:
    result = client.ping()  # typed as ``Awaitable[bool] | bool`` by redis-py
    if inspect.isawaitable(result):
        await result


async def connect_redis(settings: Settings) -> aioredis.Redis | None:
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


async def projector_heartbeat(services: Services) -> CheckResult:
    """Every projection has a leader with a fresh heartbeat (critical when `require_projector`)."""
    timeout = services.settings.projector_heartbeat_timeout_s
    try:
        async with services.pool.acquire(timeout=2.0) as conn:
            found = await projection_store.status(conn, timeout)
    except Exception as exc:
        return CheckResult(False, f"projector state unknown: {type(exc).__name__}", services.settings.require_projector)
    stale = [s.name for s in found if s.state == "stopped"]
    detail = f"no fresh heartbeat for {', '.join(stale)}" if stale else "every projection has a live leader"
    return CheckResult(not stale, detail, critical=services.settings.require_projector)


@asynccontextmanager
async def open_services(
    settings: Settings, *, migrate: bool | None = None, pool_max: int | None = None
) -> AsyncIterator[Services]:
    pool = await create_pool(settings, max_size=pool_max)
    redis_client: aioredis.Redis | None = None
    notifier: AppendNotifier | None = None
    try:
        if settings.auto_migrate if migrate is None else migrate:
            async with pool.acquire() as conn:
                applied = await migrations.apply(conn, log)
            log.info("migrations at head", version=migrations.head(), applied=len(applied))
        if settings.bootstrap_admin_key is not None:
            async with pool.acquire() as conn:
                key = await apikeys.ensure_bootstrap(conn, settings.bootstrap_admin_key.get_secret_value())
            log.info("bootstrap admin key ensured", key_id=key.key_id)
        redis_client = await connect_redis(settings)
        notifier = AppendNotifier(pool)
        services = Services(settings=settings, pool=pool, redis=redis_client, append_notifier=notifier)
        await timeseries_wiring.attach(services)
        services.readiness["projector"] = projector_heartbeat
        yield services
    finally:
        if notifier is not None:
            await notifier.aclose()
        if redis_client is not None:
            await redis_client.aclose()
        await pool.close()
