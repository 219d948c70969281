"""``/v1/alerts``: commands, the list and detail (``registry`` read model), the history time series
(``alert_history``) and the live stream of alert changes (Server-Sent Events)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from sensorhub.application import alerts as handlers
from sensorhub.application.ports import EventStore
from sensorhub.application.results import CommandResult
from sensorhub.db import Conn
from sensorhub.domain.alert import AlertState
from sensorhub.domain.alert_commands import AcknowledgeAlert, ResolveAlert
from sensorhub.domain.alert_events import AlertRaised
from sensorhub.eventstore.codec import EventTypeRegistry
from sensorhub.http import dependencies as deps
from sensorhub.http.alert_replay import last_event_id as last_event_id_of
from sensorhub.http.alert_replay import replay_start
from sensorhub.http.commands import Commands, command_response, if_match, json_response
from sensorhub.http.openapi import documented, event_stream
from sensorhub.http.problems import ProblemError, invalid
from sensorhub.http.reads import (
    Cursor,
    FromVersion,
    Limit,
    MinPositionHeader,
    MinPositionQuery,
    ReadModels,
    VersionCursor,
    decode_cursor,
    encode_cursor,
    stream_next_cursor,
    stream_page_start,
)
from sensorhub.http.times import utc_range
from sensorhub.http.views import (
    AcknowledgeBody,
    AlertView,
    EventItem,
    ResolveBody,
    alert_from_row,
    alert_from_state,
    event_item,
)
from sensorhub.projections import queries
from sensorhub.projections.fanout import ALERTS_CHANNEL
from sensorhub.runtime import UnitOfWorkFactory
from sensorhub.settings import Settings
from sensorhub.timeseries.queries import QueryError, parse_bucket

READ = {"scope": "read"}
WRITE = {"scope": "write", "command": True}
BUCKET_PATTERN = r"^[1-9][0-9]{0,5}[smhdw]$"
KEEPALIVE_S = 15.0
AnyRequest = Request[Any, Any, Any]


class AlertEventPage(msgspec.Struct):
    items: list[EventItem]
    next_cursor: str | None
    archived: bool  # the alert's events are read from the archive (docs/eventstore.md)


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


def _respond(result: CommandResult[AlertState]) -> Response[bytes]:
    view = alert_from_state(result.state, result.version, result.position)
    return command_response(view, version=result.version, position=result.position)


def bucket_seconds(bucket: str) -> int:
    try:
        return int(parse_bucket(bucket).total_seconds())
    except QueryError as exc:
        raise invalid(exc.field, str(exc)) from None


class AlertsController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]
    dependencies = {
        "pool": deps.POOL,
        "settings": deps.SETTINGS,
        "unit_of_work": deps.UNIT_OF_WORK,
        "commands": deps.COMMANDS,
        "read_models": deps.READ_MODELS,
        "clock": deps.CLOCK,
        "event_store": deps.EVENT_STORE,
        "codec": deps.CODEC,
    }

    @get("/", opt=READ, operation_id="listAlerts", responses=documented(AlertPage))
    async def list_alerts(
        self,
        *,
        pool: deps.Injected[asyncpg.Pool],
        read_models: deps.Injected[ReadModels],
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
        headers = await read_models.consistent(("registry",), min_position, x_min_position)
        after = decode_cursor(cursor, tuple[datetime, str]) if cursor else None

        async def load() -> bytes:
            async with pool.acquire() as conn:
                rows = await queries.alerts(
                    conn, status=status, severity=severity, site=site, device_id=device_id, after=after, limit=limit + 1
                )
            views = [alert_from_row(r) for r in rows[:limit]]
            last = views[-1] if views else None
            next_cursor = encode_cursor(last.raised_at, last.alert_id) if last and len(rows) > limit else None
            return msgspec.json.encode(AlertPage(views, next_cursor))

        key = f"alerts:{status}:{severity}:{site}:{device_id}:{cursor}:{limit}"
        body = await read_models.cached("registry", key, load, fresh=bool(min_position or x_min_position))
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
        pool: deps.Injected[asyncpg.Pool],
        read_models: deps.Injected[ReadModels],
        start: Annotated[datetime, QueryParameter(name="from", description="Start (inclusive), RFC 3339")],
        end: Annotated[datetime, QueryParameter(name="to", description="End (exclusive), RFC 3339")],
        device_id: Annotated[str | None, QueryParameter(description="One device (default: all)")] = None,
        bucket: Annotated[
            str | None, QueryParameter(pattern=BUCKET_PATTERN, description="Count transitions per bucket, e.g. 1h")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1000,
        cursor: Cursor = None,
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """Alert transitions in ``[from, to)`` (raised, acknowledged, resolved, auto_resolved), or counts per bucket."""
        start, end = utc_range(start, end)
        headers = await read_models.consistent(("alert_history",), min_position, x_min_position)
        async with pool.acquire() as conn:
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
        *,
        channels: NamedDependency[ChannelsPlugin],
        settings: deps.Injected[Settings],
        pool: deps.Injected[asyncpg.Pool],
        unit_of_work: deps.Injected[UnitOfWorkFactory],
        access_token: Annotated[
            str | None,
            QueryParameter(
                description="The API key, for clients that cannot send `Authorization` (a browser's EventSource)"
            ),
        ] = None,
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
        from whichever replica handled the command. A ``: subscribed`` comment with an ``id`` (the
        feed's head, or the ``Last-Event-ID`` sent) marks the start. The connection ends after
        ``SENSORHUB_SSE_MAX_DURATION_S``; clients reconnect (``retry``: 1 s) with ``Last-Event-ID``
        and first receive what they missed."""
        after = last_event_id_of(last_event_id)

        async def start() -> tuple[int, list[bytes]]:
            async with pool.acquire() as conn:
                return await replay_start(conn, unit_of_work, after)

        return ServerSentEvent(_alert_events(channels, settings.sse_max_duration_s, start))

    @get("/{alert_id:str}", opt={**READ, "etag": True}, operation_id="getAlert", responses=documented(AlertView))
    async def get_alert(
        self,
        *,
        read_models: deps.Injected[ReadModels],
        unit_of_work: deps.Injected[UnitOfWorkFactory],
        event_store: deps.Injected[EventStore],
        alert_id: FromPath[str],
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """One alert from the read model; not yet there: rebuilt from its events. ``archived``:
        its events were moved to the archive (they still answer; the alert takes no commands)."""
        archived = await event_store.archived(alert_id) is not None
        found = await _detail(read_models, alert_id, min_position, x_min_position)
        if found is not None:
            if archived:
                view = msgspec.structs.replace(msgspec.json.decode(found.content, type=AlertView), archived=True)
                found.content = msgspec.json.encode(view)
            return found
        async with unit_of_work(None) as uow:
            alert = await uow.alerts.find(alert_id)
        if alert is None:
            raise ProblemError(404, f"no alert with id {alert_id!r}")
        view = msgspec.structs.replace(alert_from_state(alert.state, alert.version), archived=archived)
        return json_response(view, version=alert.version)

    @get("/{alert_id:str}/events", opt=READ, operation_id="alertEvents", responses=documented(AlertEventPage, 404))
    async def events(
        self,
        *,
        event_store: deps.Injected[EventStore],
        codec: deps.Injected[EventTypeRegistry],
        alert_id: FromPath[str],
        from_version: FromVersion = 1,
        cursor: VersionCursor = None,
        limit: Limit = 50,
    ) -> Response[bytes]:
        """The alert's stream, oldest first, payloads in their current schema version, from the hot
        store or the archive (``archived: true``); 404 for an alert never raised."""
        start = stream_page_start(cursor, from_version)
        records = await event_store.read_stream(alert_id, from_version=start, limit=limit)
        first = records[:1] if start == 1 else await event_store.read_stream(alert_id, from_version=1, limit=1)
        if not first or first[0].type != AlertRaised.__name__:
            raise ProblemError(404, f"no alert with id {alert_id!r}")
        archived = await event_store.archived(alert_id) is not None
        items = [event_item(codec.upcast_record(r)) for r in records]
        return json_response(AlertEventPage(items, stream_next_cursor(records, limit), archived))

    @post(
        "/{alert_id:str}/acknowledge",
        opt=WRITE,
        operation_id="acknowledgeAlert",
        status_code=200,
        responses=documented(AlertView, 409, 412),
    )
    async def acknowledge(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        clock: deps.Injected[Callable[[], datetime]],
        alert_id: FromPath[str],
        data: JSONBody[AcknowledgeBody],
    ) -> Response[bytes]:
        """Acknowledge an open alert (otherwise 409)."""
        command = AcknowledgeAlert(alert_id, data.by, data.note, clock(), if_match(request))
        return await commands.run(request, handlers.acknowledge_alert, command, _respond)

    @post(
        "/{alert_id:str}/resolve",
        opt=WRITE,
        operation_id="resolveAlert",
        status_code=200,
        responses=documented(AlertView, 409, 412),
    )
    async def resolve(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        clock: deps.Injected[Callable[[], datetime]],
        alert_id: FromPath[str],
        data: JSONBody[ResolveBody],
    ) -> Response[bytes]:
        """Resolve an alert by hand (a resolved one → 409)."""
        command = ResolveAlert(alert_id, data.by, data.note, clock(), if_match(request))
        return await commands.run(request, handlers.resolve_alert, command, _respond)


async def _detail(read_models: ReadModels, alert_id: str, *positions: int | None) -> Response[bytes] | None:
    """The alert from the read model; None when it does not have it (yet)."""

    async def fetch(conn: Conn) -> bytes:
        row = await queries.alert(conn, alert_id)
        return b"" if row is None else msgspec.json.encode(alert_from_row(row))

    found = await read_models.detail("registry", f"alert:{alert_id}", fetch, positions)
    if found is None:
        return None
    body, headers = found
    version = msgspec.json.decode(body, type=AlertView).version
    return Response(body, media_type="application/json", headers={**headers, "ETag": f'"{version}"'})


def _counts(row: dict[str, int]) -> dict[str, int]:
    return {k: row[k] for k in ("total", "raised", "acknowledged", "resolved", "auto_resolved")}


async def _alert_events(
    channels: ChannelsPlugin, max_duration_s: float, start: Callable[[], Awaitable[tuple[int, list[bytes]]]]
) -> AsyncIterator[ServerSentEventMessage]:
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)
    # Connections are recycled so long-lived clients spread over replicas again; SSE clients reconnect.
    deadline = time.monotonic() + max_duration_s
    async with channels.start_subscription([ALERTS_CHANNEL]) as subscriber:
        async with subscriber.run_in_background(_enqueue(queue)):
            # Subscribed before reading what was missed: a change committed in between comes twice
            # at most, and the second copy is skipped by its position. The first frame has an `id`
            # (the Last-Event-ID sent, or the feed's head) and no `data:` line: EventSource takes
            # the id as its last one without firing a message.
            announced, missed = await start()
            yield ServerSentEventMessage(comment="subscribed", id=str(announced), retry=1000, data=None)
            replayed: set[int] = set()
            for payload in missed:
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
