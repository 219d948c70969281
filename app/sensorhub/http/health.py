"""Liveness, readiness and metrics endpoints (public)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusController

from sensorhub.http import dependencies as deps
from sensorhub.http import storage
from sensorhub.runtime import Services


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


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = {"public": True}
    include_in_schema = False
    before_request = storage.refresh_gauges
