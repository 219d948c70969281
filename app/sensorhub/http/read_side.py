"""What the read-model endpoints share: read-your-writes (``X-Min-Position`` / ``min_position``
with a bounded wait and ``X-Stale``), the read cache, opaque cursors, and row → view mapping."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Response
from litestar.params import HeaderParameter, QueryParameter

from sensorhub.bootstrap import Services
from sensorhub.db import Conn
from sensorhub.http.problems import ProblemError
from sensorhub.http.views import AlertView, BoundsView, DeviceView, MetricBody, ThresholdView
from sensorhub.projections import queries, store
from sensorhub.projections.cache import ReadCache

MAX_POSITION = 2**63 - 1
MinPositionHeader = Annotated[
    int | None,
    HeaderParameter(
        name="X-Min-Position",
        ge=0,
        le=MAX_POSITION,
        required=False,
        description="Wait (bounded) until the read models include this position (from a command's `X-Position`)",
    ),
]
MinPositionQuery = Annotated[
    int | None,
    QueryParameter(
        name="min_position", ge=0, le=MAX_POSITION, required=False, description="Same as the `X-Min-Position` header"
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size (default 50, at most 1000)")]
Cursor = Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")]


@dataclass(frozen=True)
class ReadSide:
    services: Services
    cache: ReadCache

    async def consistent(self, projections: tuple[str, ...], *positions: int | None) -> dict[str, str]:
        """Headers for a read that asked for ``positions``: wait up to ``read_wait_timeout_s``
        for ``projections`` to include the highest; ``X-Stale: true`` when they did not (also
        for a position no event has yet)."""
        wanted = max((p for p in positions if p is not None), default=None)
        if wanted is None or wanted == 0:
            return {}
        deadline = time.monotonic() + self.services.settings.read_wait_timeout_s
        delay = 0.005
        while True:
            async with self.services.pool.acquire() as conn:
                done = await store.reached(conn, projections, wanted)
            # None: no event has that position yet (a command committing on another replica, or a
            # position that will never exist): wait like for any other, then answer stale.
            if done:
                return {}
            if time.monotonic() + delay > deadline:
                return {"X-Stale": "true"}
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def cached(self, projection: str, key: str, load: Callable[[], Awaitable[bytes]], *, fresh: bool) -> bytes:
        """``fresh``: a read-your-writes request, answered from the database itself."""
        return await load() if fresh else await self.cache.get_or_load(projection, key, load)


def read_side(services: Services) -> ReadSide:
    """One per process, kept in ``services.extras`` (built on first use)."""
    found = services.extras.get("read_side")
    if not isinstance(found, ReadSide):
        found = ReadSide(services, ReadCache(services.pool, services.redis, services.settings.read_cache_ttl_s))
        services.extras["read_side"] = found
    return found


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str, shape: type[Any]) -> Any:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=shape)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        message = "`cursor` is not one this API returned; pass `next_cursor` from the previous page unchanged"
        raise ProblemError(422, message, extra={"errors": [{"field": "cursor", "message": message}]}) from None


def device_view(row: dict[str, Any]) -> DeviceView:
    return DeviceView(
        device_id=row["device_id"],
        name=row["name"],
        site=row["site"],
        kind=row["kind"],
        status=row["status"],
        metrics=[MetricBody(m["name"], m["unit"]) for m in row["metrics"]],
        thresholds=[
            ThresholdView(metric, t.get("min"), t.get("max"), t["severity"])
            for metric, t in sorted(row["thresholds"].items())
        ],
        version=row["version"],
        open_alerts=row["open_alerts"],
    )


def alert_view(row: dict[str, Any]) -> AlertView:
    return AlertView(
        alert_id=row["alert_id"],
        device_id=row["device_id"],
        metric=row["metric"],
        severity=row["severity"],
        status=row["status"],
        raised_at=row["raised_at"],
        trigger_value=row["trigger_value"],
        threshold=BoundsView(row["threshold"].get("min"), row["threshold"].get("max")),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        resolved_by=row["resolved_by"],
        resolved_at=row["resolved_at"],
        resolution=row["resolution"],
        note=row["note"],
        version=row["version"],
    )


def _json(body: bytes, headers: dict[str, str]) -> Response[bytes]:
    return Response(body, media_type="application/json", headers=headers)


async def with_last_seen(services: Services, views: list[DeviceView]) -> None:
    """``last_seen_at`` comes from the time-series store (it changes with every reading), never the cache."""
    async with services.pool.acquire() as conn:
        seen = await queries.last_seen(conn, [v.device_id for v in views])
    for view in views:
        view.last_seen_at = seen.get(view.device_id)


async def _registry_detail(
    services: Services, key: str, fetch: Callable[[Conn], Awaitable[bytes]], positions: tuple[int | None, ...]
) -> tuple[bytes, dict[str, str]] | None:
    """One row of the registry read model as cached JSON, with the consistency headers; None when
    the read model does not have it (yet). ``fetch`` returns b"" for a missing row."""
    rs = read_side(services)
    headers = await rs.consistent(("registry",), *positions)

    async def load() -> bytes:
        async with services.pool.acquire() as conn:
            return await fetch(conn)

    body = await rs.cached("registry", key, load, fresh=any(p for p in positions))
    return (body, headers) if body else None


async def device_detail(services: Services, device_id: str, *positions: int | None) -> Response[bytes] | None:
    """``GET /v1/devices/{id}`` from the read model; None when the read model does not have it
    (yet): the caller then answers from the event store."""

    async def fetch(conn: Conn) -> bytes:
        row = await queries.device(conn, device_id)
        return b"" if row is None else msgspec.json.encode(device_view(row))

    found = await _registry_detail(services, f"device:{device_id}", fetch, positions)
    if found is None:
        return None
    view = msgspec.json.decode(found[0], type=DeviceView)
    await with_last_seen(services, [view])
    return _json(msgspec.json.encode(view), {**found[1], "ETag": f'"{view.version}"'})


async def alert_detail(services: Services, alert_id: str, *positions: int | None) -> Response[bytes] | None:
    """``GET /v1/alerts/{id}`` from the read model; None when the read model does not have it (yet)."""

    async def fetch(conn: Conn) -> bytes:
        row = await queries.alert(conn, alert_id)
        return b"" if row is None else msgspec.json.encode(alert_view(row))

    found = await _registry_detail(services, f"alert:{alert_id}", fetch, positions)
    if found is None:
        return None
    body, headers = found
    return _json(body, {**headers, "ETag": f'"{msgspec.json.decode(body, type=AlertView).version}"'})
