"""Liveness, readiness and metrics endpoints (public)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusController
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from sensorhub.http import dependencies as deps
from sensorhub.http import storage
from sensorhub.observability import (
    OPEN_ALERTS,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
    get_logger,
)
from sensorhub.projections import queries
from sensorhub.projections import store as projection_store
from sensorhub.runtime import Services

CHECK_TIMEOUT_S = 2.0
log = get_logger("sensorhub.http")


@get("/health/live", opt={"public": True}, operation_id="healthLive", tags=["operations"])
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def run_checks(services: Services) -> tuple[bool, dict[str, dict[str, Any]]]:
    names = list(services.readiness)
    results = await asyncio.gather(*(services.readiness[n](services) for n in names))
    report = {n: {"ok": r.ok, "critical": r.critical, "detail": r.detail} for n, r in zip(names, results, strict=True)}
    ready = all(r.ok for r in results if r.critical)
    return ready, report


@get(
    "/health/ready",
    opt={"public": True},
    operation_id="healthReady",
    tags=["operations"],
    dependencies={"services": deps.SERVICES},
)
async def ready(services: deps.Injected[Services]) -> Response[dict[str, Any]]:
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
    before_request = storage.refresh_gauges
    dependencies = {"services": deps.SERVICES}

    @get()
    async def get(self, services: deps.Injected[Services]) -> Response:  # pyright: ignore[reportIncompatibleMethodOverride]
        await refresh_read_model_gauges(services)
        return Response(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
