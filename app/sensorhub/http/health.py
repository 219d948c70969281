"""Liveness, readiness and metrics endpoints (public)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.plugins.prometheus import PrometheusController
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from sensorhub import migrations
from sensorhub.bootstrap import CheckResult, Services, redis_ping
from sensorhub.observability import (
    DATABASE_UP,
    OPEN_ALERTS,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
    REDIS_UP,
    get_logger,
)
from sensorhub.projections import queries
from sensorhub.projections import store as projection_store

CHECK_TIMEOUT_S = 2.0
log = get_logger("sensorhub.http")


@get("/health/live", opt={"public": True}, operation_id="healthLive", tags=["operations"])
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


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


async def run_checks(services: Services) -> tuple[bool, dict[str, dict[str, Any]]]:
    checks = {"database": database_check, "redis": redis_check, **services.readiness}
    names = list(checks)
    results = await asyncio.gather(*(checks[n](services) for n in names))
    report = {n: {"ok": r.ok, "critical": r.critical, "detail": r.detail} for n, r in zip(names, results, strict=True)}
    ready = all(r.ok for r in results if r.critical)
    return ready, report


@get("/health/ready", opt={"public": True}, operation_id="healthReady", tags=["operations"])
async def ready(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    """Database reachable, migrations at head, workers fresh; ``503`` otherwise."""
    ok, report = await run_checks(services)
    return Response({"status": "ready" if ok else "not_ready", "checks": report}, status_code=200 if ok else 503)


async def refresh_read_model_gauges(services: Services) -> None:
    """Projection lag and open alerts, read from the database at scrape time: the projector sets
    them in its own process, and a scrape of the API alone would otherwise show empty series."""
    try:
        async with services.pool.acquire(timeout=CHECK_TIMEOUT_S) as conn:
            found = await projection_store.status(conn, services.settings.projector_heartbeat_timeout_s)
            open_alerts = await queries.open_alerts_by_severity(conn)
    except Exception as exc:  # metrics must still be served when the database is not
        log.warning("read-model gauges not refreshed", error=type(exc).__name__)
        return
    for status in found:
        PROJECTION_LAG_EVENTS.labels(projection=status.name).set(status.lag_events)
        PROJECTION_LAG_SECONDS.labels(projection=status.name).set(status.lag_seconds)
    for severity, count in open_alerts.items():
        OPEN_ALERTS.labels(severity=severity).set(count)


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = {"public": True}
    include_in_schema = False

    @get()
    async def get(self, services: NamedDependency[Services]) -> Response:  # pyright: ignore[reportIncompatibleMethodOverride]
        await refresh_read_model_gauges(services)
        return Response(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
