"""``/v1/projections`` (admin): status and lag of each projection, and rebuild requests."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath

from sensorhub.http import dependencies as deps
from sensorhub.http.openapi import documented
from sensorhub.http.problems import ProblemError
from sensorhub.projections import store
from sensorhub.settings import Settings

ADMIN = {"scope": "admin"}


class ProjectionView(msgspec.Struct):
    name: str
    position: int
    lag_events: int
    lag_seconds: float
    state: str  # running | catching_up | rebuild_pending | rebuilding | stopped
    generation: int
    leader: str | None
    heartbeat_at: datetime | None
    rebuild_position: int | None


class ProjectionPage(msgspec.Struct):
    items: list[ProjectionView]
    next_cursor: None


class RebuildAccepted(msgspec.Struct):
    name: str
    state: str


class ProjectionsController(Controller):
    path = "/v1/projections"
    tags = ["projections"]
    dependencies = {"pool": deps.POOL, "settings": deps.SETTINGS}

    @get("/", opt=ADMIN, operation_id="listProjections")
    async def list_projections(
        self, pool: deps.Injected[asyncpg.Pool], settings: deps.Injected[Settings]
    ) -> ProjectionPage:
        """Each projection's position, lag (events not yet applied, age of the oldest) and state
        (a handful: one page, ``next_cursor`` always null)."""
        async with pool.acquire() as conn:
            found = await store.status(conn, settings.projector_heartbeat_timeout_s)
        return ProjectionPage([ProjectionView(**dataclasses.asdict(s)) for s in found], None)

    @post(
        "/{name:str}/rebuild",
        opt=ADMIN,
        operation_id="rebuildProjection",
        status_code=202,
        responses=documented(None, 404),
    )
    async def rebuild(self, pool: deps.Injected[asyncpg.Pool], name: FromPath[str]) -> RebuildAccepted:
        """Rebuild without downtime: the projector replays into a shadow copy, then swaps it in."""
        async with pool.acquire() as conn:
            if not await store.request_rebuild(conn, name):
                known = ", ".join(s.name for s in await store.status(conn, 1.0))
                raise ProblemError(404, f"no projection named {name!r}; known: {known}")
        return RebuildAccepted(name, "rebuild_pending")
