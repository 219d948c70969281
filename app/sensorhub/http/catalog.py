"""``GET /v1/sites`` and ``GET /v1/metrics``: what is in use across the fleet (``registry`` read
model; eventually consistent, with ``X-Min-Position`` as for the other reads)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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


async def _page(
    pool: asyncpg.Pool,
    read_models: ReadModels,
    fetch: Callable[..., Awaitable[list[dict[str, Any]]]],
    item: Callable[[dict[str, Any]], msgspec.Struct],
    *,
    limit: int,
    cursor: str | None,
    positions: tuple[int | None, ...],
) -> Response[bytes]:
    """One page of a list keyed by its first field (a name), with the consistency headers."""
    headers = await read_models.consistent(("registry",), *positions)
    after = decode_cursor(cursor, tuple[str])[0] if cursor else None
    async with pool.acquire() as conn:
        rows = await fetch(conn, after=after, limit=limit + 1)
    items = [item(r) for r in rows[:limit]]
    next_cursor = encode_cursor(next(iter(rows[limit - 1].values()))) if len(rows) > limit else None
    body = msgspec.json.encode({"items": items, "next_cursor": next_cursor})
    return Response(body, media_type="application/json", headers=headers)


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

        def item(r: dict[str, Any]) -> SiteItem:
            return SiteItem(r["site"], r["devices"], r["active"])

        positions = (min_position, x_min_position)
        return await _page(pool, read_models, queries.sites, item, limit=limit, cursor=cursor, positions=positions)

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

        def item(r: dict[str, Any]) -> MetricItem:
            return MetricItem(r["name"], list(r["units"]), r["devices"])

        positions = (min_position, x_min_position)
        return await _page(
            pool, read_models, queries.metrics_in_use, item, limit=limit, cursor=cursor, positions=positions
        )
