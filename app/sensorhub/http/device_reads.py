"""``GET /v1/devices``: the device list, from the ``registry`` read model."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from sensorhub.bootstrap import Services
from sensorhub.http.openapi import documented
from sensorhub.http.read_side import (
    Cursor,
    Limit,
    MinPositionHeader,
    MinPositionQuery,
    decode_cursor,
    device_view,
    encode_cursor,
    read_side,
    with_last_seen,
)
from sensorhub.http.views import DeviceView
from sensorhub.projections import queries


class DevicePage(msgspec.Struct):
    items: list[DeviceView]
    next_cursor: str | None


class DeviceListRoutes:
    """Mixed into ``DevicesController`` (one controller per path: Litestar cannot merge two on
    ``/v1/devices``)."""

    @get("/", opt={"scope": "read"}, operation_id="listDevices", responses=documented(DevicePage))
    async def list_devices(
        self,
        *,
        services: NamedDependency[Services],
        site: Annotated[str | None, QueryParameter(description="Only devices at this site")] = None,
        status: Annotated[Literal["active", "decommissioned"] | None, QueryParameter()] = None,
        kind: Annotated[str | None, QueryParameter(description="Only devices of this kind")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """Devices by id, with open alert count and last seen time (read model; eventually consistent)."""
        rs = read_side(services)
        headers = await rs.consistent(("registry",), min_position, x_min_position)
        after = decode_cursor(cursor, tuple[str])[0] if cursor else None

        async def load() -> bytes:
            async with services.pool.acquire() as conn:
                rows = await queries.devices(conn, site=site, status=status, kind=kind, after=after, limit=limit + 1)
            views = [device_view(r) for r in rows[:limit]]
            next_cursor = encode_cursor(views[-1].device_id) if len(rows) > limit else None
            return msgspec.json.encode(DevicePage(views, next_cursor))

        key = f"devices:{site}:{status}:{kind}:{after}:{limit}"
        page = msgspec.json.decode(
            await rs.cached("registry", key, load, fresh=bool(min_position or x_min_position)), type=DevicePage
        )
        await with_last_seen(services, page.items)
        return Response(msgspec.json.encode(page), media_type="application/json", headers=headers)
