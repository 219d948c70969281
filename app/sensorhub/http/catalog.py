"""``GET /v1/sites`` and ``GET /v1/metrics``: what is in use across the fleet (``registry`` read
model; eventually consistent, with ``X-Min-Position`` as for the other reads)."""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Controller, Response, get

from sensorhub.http import dependencies as deps
from sensorhub.http.openapi import documented
from sensorhub.http.reads import (
    Cursor,
    Limit,
    MinPositionHeader,
    MinPositionQuery,
    ReadModels,
    decode_cursor,
    encode_cursor,
)
from sensorhub.projections import queries

READ = {"scope": "read"}


class SiteItem(msgspec.Struct):
    site: str
    devices: int
    active: int


class SitePage(msgspec.Struct):
    items: list[SiteItem]
    next_cursor: str | None


class MetricItem(msgspec.Struct):
    name: str
    units: list[str]
    devices: int


class MetricPage(msgspec.Struct):
    items: list[MetricItem]
    next_cursor: str | None


class CatalogController(Controller):
    tags = ["devices"]
    dependencies = {"pool": deps.POOL, "read_models": deps.READ_MODELS}

    @get("/v1/sites", opt=READ, operation_id="listSites", responses=documented(SitePage))
    async def sites(
        self,
        *,
        pool: deps.Injected[asyncpg.Pool],
        read_models: deps.Injected[ReadModels],
        limit: Limit = 50,
        cursor: Cursor = None,
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """Every site with at least one device, by name, with its device and active device counts."""
        headers = await read_models.consistent(("registry",), min_position, x_min_position)
        after = decode_cursor(cursor, tuple[str])[0] if cursor else None
        async with pool.acquire() as conn:
            rows = await queries.sites(conn, after=after, limit=limit + 1)
        items = [SiteItem(r["site"], r["devices"], r["active"]) for r in rows[:limit]]
        page = SitePage(items, encode_cursor(items[-1].site) if len(rows) > limit else None)
        return Response(msgspec.json.encode(page), media_type="application/json", headers=headers)

    @get("/v1/metrics", opt=READ, operation_id="listMetrics", responses=documented(MetricPage))
    async def metrics(
        self,
        *,
        pool: deps.Injected[asyncpg.Pool],
        read_models: deps.Injected[ReadModels],
        limit: Limit = 50,
        cursor: Cursor = None,
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """Every metric name some device declares, by name, with its units and device count."""
        headers = await read_models.consistent(("registry",), min_position, x_min_position)
        after = decode_cursor(cursor, tuple[str])[0] if cursor else None
        async with pool.acquire() as conn:
            rows = await queries.metrics_in_use(conn, after=after, limit=limit + 1)
        items = [MetricItem(r["name"], list(r["units"]), r["devices"]) for r in rows[:limit]]
        page = MetricPage(items, encode_cursor(items[-1].name) if len(rows) > limit else None)
        return Response(msgspec.json.encode(page), media_type="application/json", headers=headers)
