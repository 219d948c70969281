"""The composition root: the one place that builds adapters and wires them into a process.

:func:`open_services` opens the pool and the Redis client, applies migrations where configured,
builds the event codec, the unit-of-work factory, the read cache, the idempotency records and
the time-series store with its ingest, and closes everything on exit. :func:`create_app` is the
HTTP service built on it (``sensorhub serve`` runs :func:`create_app_from_env`).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
import redis.asyncio as aioredis
from litestar import Litestar

from sensorhub import apikeys, migrations
from sensorhub.application.unit_of_work import CommandContext, UnitOfWork
from sensorhub.db import Conn, create_pool
from sensorhub.eventstore.codec import EventTypeRegistry
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.horizon import feed_horizon
from sensorhub.eventstore.key_wrappers import key_wrapper
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.eventstore.personal_data import PersonalDataEventStore
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.eventstore.subject_keys import KeyCache, KeyWrapper, PostgresSubjectKeys
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work
from sensorhub.http.app import build_app
from sensorhub.idempotency import PostgresIdempotencyRecords
from sensorhub.ingest.catalog import EventStoreDeviceCatalog
from sensorhub.ingest.service import ReadingsIngest
from sensorhub.observability import (
    DATABASE_UP,
    FEED_HORIZON_AGE_SECONDS,
    REDIS_UP,
    configure_logging,
    get_logger,
)
from sensorhub.projections import store as projection_store
from sensorhub.projections.alert_stream import alert_channels
from sensorhub.projections.cache import ReadCache
from sensorhub.runtime import (
    CheckResult,
    ReadinessCheck,
    Services,
    TimeSeries,
    UnitOfWorkFactory,
    connect_redis,
    redis_ping,
)
from sensorhub.settings import Settings, load_settings
from sensorhub.timeseries.compression import method_for as compression_method
from sensorhub.timeseries.engines import EngineError
from sensorhub.timeseries.store import TimeSeriesStore

log = get_logger("sensorhub")
CHECK_TIMEOUT_S = 2.0


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
        codec = build_registry()
        wrapper, key_cache = key_wrapper(settings), KeyCache(settings.key_cache_ttl_s)
        subject_keys = PostgresSubjectKeys(pool, wrapper, key_cache, notifier=notifier)
        services = Services(
            settings=settings,
            pool=pool,
            redis=redis_client,
            codec=codec,
            events=PersonalDataEventStore(PostgresEventStore(pool), subject_keys),
            unit_of_work=unit_of_work_factory(pool, codec, settings, notifier, wrapper=wrapper, key_cache=key_cache),
            read_cache=ReadCache(pool, redis_client, settings.read_cache_ttl_s),
            idempotency=PostgresIdempotencyRecords(pool),
            subject_keys=subject_keys,
            append_notifier=notifier,
        )
        services.readiness.update(database=database_check, redis=redis_check, feed_horizon=feed_horizon_check)
        services.timeseries = await open_timeseries(services)
        services.readiness["projector"] = projector_heartbeat
        yield services
    finally:
        if notifier is not None:
            await notifier.aclose()
        if redis_client is not None:
            await redis_client.aclose()
        await pool.close()


def unit_of_work_factory(
    pool: asyncpg.Pool,
    codec: EventTypeRegistry,
    settings: Settings,
    notifier: AppendNotifier | None,
    *,
    wrapper: KeyWrapper,
    key_cache: KeyCache,
) -> UnitOfWorkFactory:
    def subject_keys(conn: Conn) -> PostgresSubjectKeys:
        return PostgresSubjectKeys(conn, wrapper, key_cache)

    def unit_of_work(context: CommandContext | None) -> AbstractAsyncContextManager[UnitOfWork]:
        return postgres_unit_of_work(
            pool,
            codec,
            context=context,
            snapshot_every=settings.snapshot_every,
            notifier=notifier,
            subject_keys=subject_keys,
        )

    return unit_of_work


async def open_timeseries(services: Services) -> TimeSeries | None:
    """Detect the engine and build the store and ingest on it. A database that is not migrated yet
    (or an engine that cannot serve) is reported by readiness rather than failing start-up."""
    settings = services.settings
    async with services.pool.acquire() as conn:
        if await conn.fetchval("SELECT to_regclass('timeseries_engine')") is None:
            log.warning("time-series tables missing: run `sensorhub migrate`")
            services.readiness["timeseries"] = fixed(
                CheckResult(False, "time-series tables missing: run `sensorhub migrate`")
            )
            return None
        try:
            store = await TimeSeriesStore.open(conn, settings.timeseries_engine)
            # What the maintenance worker runs here: `off` too when the days turn compression off.
            method = compression_method(store.info, settings.compression if settings.compress_after_days else "off")
        except EngineError as exc:
            services.readiness["timeseries"] = fixed(CheckResult(False, str(exc)))
            log.error("time-series engine unavailable", error=str(exc))
            return None
    ingest = ReadingsIngest(
        services.pool,
        store,
        EventStoreDeviceCatalog(services.codec),
        services.codec,
        retention_days=settings.raw_retention_days,
        notifier=services.append_notifier,
    )
    services.readiness["timeseries"] = fixed(CheckResult(True, store.info.describe(), critical=False))
    log.info("time-series engine", engine=store.info.name, detail=store.info.describe(), compression=method)
    return TimeSeries(store, ingest, method)


def fixed(result: CheckResult) -> ReadinessCheck:
    async def check(_: Services) -> CheckResult:
        return result

    return check


async def database_check(services: Services) -> CheckResult:
    try:
        async with services.pool.acquire(timeout=CHECK_TIMEOUT_S) as conn:
            version = await conn.fetchval(
                "SELECT coalesce(max(version), 0) FROM schema_migrations", timeout=CHECK_TIMEOUT_S
            )
    except Exception as exc:
        DATABASE_UP.set(0)
        return CheckResult(False, f"database unreachable: {type(exc).__name__}")
    DATABASE_UP.set(1)
    head = migrations.head()
    if version != head:
        return CheckResult(False, f"migrations at {version}, head is {head}: run `sensorhub migrate`")
    return CheckResult(True, f"reachable, migrations at head ({head})")


async def redis_check(services: Services) -> CheckResult:
    if services.redis is None:
        return CheckResult(True, "not configured: in-process fallbacks", critical=False)
    try:
        await asyncio.wait_for(redis_ping(services.redis), CHECK_TIMEOUT_S)
    except Exception as exc:
        REDIS_UP.set(0)
        return CheckResult(False, f"unreachable ({type(exc).__name__}): degraded, serving without cache", False)
    REDIS_UP.set(1)
    return CheckResult(True, "reachable", critical=False)


async def feed_horizon_check(services: Services) -> CheckResult:
    """Not critical: a held-back feed delays reads; it does not make this replica unfit to serve."""
    try:
        async with services.pool.acquire(timeout=CHECK_TIMEOUT_S) as conn:
            horizon = await feed_horizon(conn)
    except Exception as exc:
        return CheckResult(False, f"feed horizon unknown: {type(exc).__name__}", critical=False)
    FEED_HORIZON_AGE_SECONDS.set(horizon.age_s)
    return CheckResult(not horizon.stalled, horizon.describe(), critical=False)


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


def create_app(settings: Settings) -> Litestar:
    """The HTTP service: its lifespan opens :func:`open_services`."""
    return build_app(settings, open_services=open_services, alert_stream=alert_channels(settings))


def create_app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` (``sensorhub serve``): the process serves this app alone, so
    once it has started, everything alive is frozen out of the cyclic GC (see ``freeze_heap``)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    app.on_startup.append(freeze_heap)
    return app


def freeze_heap() -> None:
    """Move every object alive after start-up to the GC's permanent generation, so full collections
    walk only what requests create. Not in ``create_app``: tests build many apps per process."""
    gc.collect()
    gc.freeze()
