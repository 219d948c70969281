"""Alert reads: the list (``registry`` read model), the history time series (``alert_history``),
and the live stream of alert changes (Server-Sent Events, fanned out through Litestar channels)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import redis.asyncio as aioredis
from litestar import Controller, Response, get
from litestar.channels import ChannelsBackend, ChannelsPlugin
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sensorhub.bootstrap import Services
from sensorhub.http.alert_replay import last_event_id as last_event_id_of
from sensorhub.http.alert_replay import missed_changes
from sensorhub.http.field_errors import invalid
from sensorhub.http.openapi import documented, event_stream
from sensorhub.http.problems import ProblemError
from sensorhub.http.read_side import (
    Cursor,
    Limit,
    MinPositionHeader,
    MinPositionQuery,
    alert_view,
    decode_cursor,
    encode_cursor,
    read_side,
)
from sensorhub.http.views import AlertView
from sensorhub.http.write_side import write_side
from sensorhub.observability import get_logger
from sensorhub.projections import queries
from sensorhub.projections.fanout import ALERTS_CHANNEL
from sensorhub.settings import Settings

READ = {"scope": "read"}
KEEPALIVE_S = 15.0
RESUBSCRIBE_MIN_S, RESUBSCRIBE_MAX_S = 0.1, 2.0  # backoff of the alert stream's Redis subscription
_BUCKET = re.compile(r"^(\d+)([smhd])$")
log = get_logger("sensorhub.http")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class AlertPage(msgspec.Struct):
    items: list[AlertView]
    next_cursor: str | None


class AlertTransition(msgspec.Struct):
    time: datetime
    device_id: str
    alert_id: str
    metric: str
    severity: str
    transition: str
    value: float | None
    actor: str | None
    position: int


class TransitionCounts(msgspec.Struct):
    time: datetime
    total: int
    raised: int
    acknowledged: int
    resolved: int
    auto_resolved: int


class AlertHistory(msgspec.Struct):
    device_id: str | None
    bucket: None
    items: list[AlertTransition]
    next_cursor: str | None = None


class BucketedAlertHistory(msgspec.Struct):
    device_id: str | None
    bucket: str
    items: list[TransitionCounts]


def bucket_seconds(bucket: str) -> int:
    match = _BUCKET.match(bucket)
    if match is None or int(match[1]) == 0:
        message = f"bucket {bucket!r} is not a duration such as 30s, 5m, 1h or 1d"
        raise ProblemError(422, message, extra=invalid("bucket", message))
    return int(match[1]) * _UNIT_S[match[2]]


class AlertReadsController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]

    @get("/", opt=READ, operation_id="listAlerts", responses=documented(AlertPage))
    async def list_alerts(
        self,
        *,
        services: NamedDependency[Services],
        status: Annotated[Literal["open", "acknowledged", "resolved"] | None, QueryParameter()] = None,
        severity: Annotated[Literal["info", "warning", "critical"] | None, QueryParameter()] = None,
        site: Annotated[str | None, QueryParameter(description="Alerts of devices currently at this site")] = None,
        device_id: Annotated[str | None, QueryParameter()] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """Alerts, newest raised first (read model; eventually consistent)."""
        rs = read_side(services)
        headers = await rs.consistent(("registry",), min_position, x_min_position)
        after = decode_cursor(cursor, tuple[datetime, str]) if cursor else None

        async def load() -> bytes:
            async with services.pool.acquire() as conn:
                rows = await queries.alerts(
                    conn, status=status, severity=severity, site=site, device_id=device_id, after=after, limit=limit + 1
                )
            views = [alert_view(r) for r in rows[:limit]]
            last = views[-1] if views else None
            next_cursor = encode_cursor(last.raised_at, last.alert_id) if last and len(rows) > limit else None
            return msgspec.json.encode(AlertPage(views, next_cursor))

        key = f"alerts:{status}:{severity}:{site}:{device_id}:{cursor}:{limit}"
        body = await rs.cached("registry", key, load, fresh=bool(min_position or x_min_position))
        return Response(body, media_type="application/json", headers=headers)

    @get(
        "/history",
        opt=READ,
        operation_id="alertHistory",
        responses=documented(AlertHistory | BucketedAlertHistory),  # pyright: ignore[reportArgumentType]
    )
    async def history(
        self,
        *,
        services: NamedDependency[Services],
        start: Annotated[datetime, QueryParameter(name="from", description="Start (inclusive), RFC 3339")],
        end: Annotated[datetime, QueryParameter(name="to", description="End (exclusive), RFC 3339")],
        device_id: Annotated[str | None, QueryParameter(description="One device (default: all)")] = None,
        bucket: Annotated[
            str | None,
            QueryParameter(pattern=r"^[1-9][0-9]{0,5}[smhd]$", description="Count transitions per bucket, e.g. 1h"),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1000,
        cursor: Cursor = None,
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """Alert transitions in ``[from, to)`` (raised, acknowledged, resolved, auto_resolved), or counts per bucket."""
        for name, value in (("from", start), ("to", end)):
            if value.tzinfo is None:
                message = f"`{name}` needs a time zone offset, e.g. 2026-01-01T00:00:00Z"
                raise ProblemError(422, message, extra=invalid(name, message))
        if end <= start:
            raise ProblemError(422, "`to` must be after `from`", extra=invalid("to", "`to` must be after `from`"))
        headers = await read_side(services).consistent(("alert_history",), min_position, x_min_position)
        async with services.pool.acquire() as conn:
            if bucket is not None:
                rows = await queries.alert_history_buckets(
                    conn, device_id=device_id, start=start, end=end, bucket_s=bucket_seconds(bucket)
                )
                counts = [TransitionCounts(r["bucket"], **_counts(r)) for r in rows]
                result: AlertHistory | BucketedAlertHistory = BucketedAlertHistory(device_id, bucket, counts)
            else:
                after = decode_cursor(cursor, tuple[datetime, int]) if cursor else None
                found = await queries.alert_history(
                    conn, device_id=device_id, start=start, end=end, after=after, limit=limit + 1
                )
                items = [AlertTransition(**r) for r in found[:limit]]
                more = len(found) > limit
                result = AlertHistory(
                    device_id, None, items, encode_cursor(items[-1].time, items[-1].position) if more else None
                )
        return Response(msgspec.json.encode(result), media_type="application/json", headers=headers)

    @get(
        "/stream",
        opt={**READ, "head": False},
        operation_id="alertStream",
        responses=event_stream(
            "Server-Sent Events, live: a `: subscribed` comment first (with `retry: 1000`), then one"
            " `alert` event per alert change (`id` = its position, `data` = JSON `{type, position, alert}`),"
            " and a `: keep-alive` comment after 15 s without one. The server ends the connection after"
            " `SENSORHUB_SSE_MAX_DURATION_S` (default 300 s) so clients spread over replicas again;"
            " reconnect, as EventSource does."
        ),
    )
    async def stream(
        self,
        channels: NamedDependency[ChannelsPlugin],
        services: NamedDependency[Services],
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID",
                required=False,
                description="The `id` of the last event received: the changes since then are sent first",
            ),
        ] = None,
    ) -> ServerSentEvent:
        """Server-Sent Events: one ``alert`` event per alert change (``{type, position, alert}``), live,
        from whichever replica handled the command. A ``: subscribed`` comment marks the start. The
        connection ends after ``SENSORHUB_SSE_MAX_DURATION_S``; clients reconnect (``retry``: 1 s)
        with ``Last-Event-ID`` and first receive what they missed."""
        after = last_event_id_of(last_event_id)

        async def missed() -> list[bytes]:
            if after is None:
                return []
            async with services.pool.acquire() as conn:
                return await missed_changes(conn, write_side(services).unit_of_work, after)

        return ServerSentEvent(_alert_events(channels, services.settings.sse_max_duration_s, missed))


def _counts(row: dict[str, int]) -> dict[str, int]:
    return {k: row[k] for k in ("total", "raised", "acknowledged", "resolved", "auto_resolved")}


async def _alert_events(
    channels: ChannelsPlugin, max_duration_s: float, missed: Callable[[], Awaitable[list[bytes]]]
) -> AsyncIterator[ServerSentEventMessage]:
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)
    # Connections are recycled so long-lived clients spread over replicas again; SSE clients reconnect.
    deadline = time.monotonic() + max_duration_s
    async with channels.start_subscription([ALERTS_CHANNEL]) as subscriber:
        async with subscriber.run_in_background(_enqueue(queue)):
            # Subscribed before reading what was missed: a change committed in between comes twice
            # at most, and the second copy is skipped by its position.
            yield ServerSentEventMessage(comment="subscribed", retry=1000, data=None)
            replayed: set[int] = set()
            for payload in await missed():
                change = msgspec.json.decode(payload)
                replayed.add(change["position"])
                yield _alert_message(payload, change)
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    payload = await asyncio.wait_for(queue.get(), min(KEEPALIVE_S, remaining))
                except TimeoutError:
                    if deadline - time.monotonic() > 0:
                        yield ServerSentEventMessage(comment="keep-alive", data=None)
                    continue
                change = msgspec.json.decode(payload)
                if change.get("position") not in replayed:
                    yield _alert_message(payload, change)


def _alert_message(payload: bytes, change: dict[str, Any]) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=payload.decode(), event="alert", id=str(change.get("position", "")))


def _enqueue(queue: asyncio.Queue[bytes]):
    async def on_event(payload: bytes) -> None:
        if not queue.full():  # a client that stops reading loses events rather than memory
            queue.put_nowait(payload)

    return on_event


class ResilientRedisPubSubBackend(RedisChannelsPubSubBackend):
    """Redis pub/sub for the alert stream that outlives a Redis outage.

    Litestar's ChannelsPlugin runs one task over ``stream_events()`` for the process; the stock
    backend lets a ``ConnectionError`` end that generator, the task dies, and every SSE client stays
    silent after Redis returns (and the app's shutdown re-raises the error). Here the error is
    logged and the read retried with a backoff: redis-py reconnects the pub/sub connection and
    re-subscribes its channels on connect. Changes published while Redis was down are lost (pub/sub
    keeps no history); clients see the stream resume."""

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        delay = RESUBSCRIBE_MIN_S
        while True:
            try:
                async for event in super().stream_events():
                    delay = RESUBSCRIBE_MIN_S
                    yield event
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("alert stream subscription lost; resubscribing", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESUBSCRIBE_MAX_S)


def alert_channels(settings: Settings) -> ChannelsPlugin:
    """The fan-out behind ``/v1/alerts/stream``: Redis pub/sub across replicas, or PostgreSQL
    LISTEN/NOTIFY when Redis is not configured (the projector publishes on the same channel)."""
    backend: ChannelsBackend
    if settings.redis_url:
        backend = ResilientRedisPubSubBackend(redis=aioredis.Redis.from_url(settings.redis_url))
    else:
        log.warning("redis not configured: alert stream fan-out through PostgreSQL NOTIFY")
        backend = AsyncPgChannelsBackend(dsn=settings.database_url)
    return ChannelsPlugin(backend=backend, channels=[ALERTS_CHANNEL], subscriber_max_backlog=1000)
