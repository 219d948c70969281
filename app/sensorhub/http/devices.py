"""``/v1/devices``: commands, the list and detail (``registry`` read model), time travel and the
device's event stream (event store)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, cast

import asyncpg
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from sensorhub.application import devices as handlers
from sensorhub.application.commands import execute
from sensorhub.application.ports import EventStore
from sensorhub.application.results import CommandResult
from sensorhub.db import Conn
from sensorhub.domain.device import DeviceState
from sensorhub.domain.device_commands import (
    ClearThreshold,
    DecommissionDevice,
    DeleteDevice,
    ReactivateDevice,
    RegisterDevice,
    SetThreshold,
    UpdateDevice,
)
from sensorhub.domain.values import Metric
from sensorhub.eventstore.codec import EventTypeRegistry
from sensorhub.http import dependencies as deps
from sensorhub.http.commands import Commands, command_context, command_response, idempotent, if_match, json_response
from sensorhub.http.openapi import documented
from sensorhub.http.problems import ProblemError, etag, invalid, translated_errors
from sensorhub.http.reads import (
    MAX_VERSION,
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
from sensorhub.http.times import utc_moment
from sensorhub.http.views import (
    DeviceView,
    EventPage,
    RegisterDeviceBody,
    RegisterDevicesBody,
    ThresholdBody,
    UpdateDeviceBody,
    device_from_row,
    device_from_state,
    event_item,
    owner_of,
)
from sensorhub.projections import queries
from sensorhub.runtime import UnitOfWorkFactory
from sensorhub.timeseries.purge import purge_device

WRITE = {"scope": "write", "command": True}
READ = {"scope": "read"}
AnyRequest = Request[Any, Any, Any]


class BatchItem(msgspec.Struct, omit_defaults=True):
    index: int
    status: int  # 201 registered, 409 id taken, 422 refused by the domain
    device: DeviceView | None = None
    detail: str | None = None


class BatchResult(msgspec.Struct):
    created: int
    failed: int
    items: list[BatchItem]


class DevicePage(msgspec.Struct):
    items: list[DeviceView]
    next_cursor: str | None


def _respond(status: int = 200):
    def respond(result: CommandResult[DeviceState]) -> Response[bytes]:
        location = f"/v1/devices/{result.state.device_id}" if status == 201 else None
        view = device_from_state(result.state, result.version, result.position)
        return command_response(
            view, version=result.version, position=result.position, status=status, location=location
        )

    return respond


def _register_command(body: RegisterDeviceBody) -> RegisterDevice:
    return RegisterDevice(
        device_id=body.device_id or uuid.uuid4().hex,
        name=body.name,
        site=body.site,
        kind=body.kind,
        metrics=tuple(Metric(m.name, m.unit) for m in body.metrics),
        owner=owner_of(body.owner),
        address=body.address,
    )


async def _with_last_seen(pool: asyncpg.Pool, views: list[DeviceView]) -> None:
    """``last_seen_at`` comes from the time-series store (it changes with every reading), never the cache."""
    async with pool.acquire() as conn:
        seen = await queries.last_seen(conn, [v.device_id for v in views])
    for view in views:
        view.last_seen_at = seen.get(view.device_id)


class DevicesController(Controller):
    path = "/v1/devices"
    tags = ["devices"]
    dependencies = {
        "pool": deps.POOL,
        "unit_of_work": deps.UNIT_OF_WORK,
        "commands": deps.COMMANDS,
        "read_models": deps.READ_MODELS,
        "event_store": deps.EVENT_STORE,
        "codec": deps.CODEC,
    }

    @post(
        "/",
        opt={**WRITE, "create": True},
        operation_id="registerDevice",
        status_code=201,
        responses=documented(DeviceView, 409, status=201),
    )
    async def register(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        data: JSONBody[RegisterDeviceBody],
    ) -> Response[bytes]:
        """Register a device → 201 with ``Location``; an id already taken, or a name already used at
        the site → 409."""
        command = _register_command(data)
        return await commands.run(request, handlers.register_device, command, _respond(201))

    @get("/", opt=READ, operation_id="listDevices", responses=documented(DevicePage))
    async def list_devices(
        self,
        *,
        pool: deps.Injected[asyncpg.Pool],
        read_models: deps.Injected[ReadModels],
        site: Annotated[str | None, QueryParameter(description="Only devices at this site")] = None,
        status: Annotated[Literal["active", "decommissioned"] | None, QueryParameter()] = None,
        kind: Annotated[str | None, QueryParameter(description="Only devices of this kind")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """Devices by id, with open alert count and last seen time (read model; eventually consistent)."""
        headers = await read_models.consistent(("registry",), min_position, x_min_position)
        after = decode_cursor(cursor, tuple[str])[0] if cursor else None

        async def load() -> bytes:
            async with pool.acquire() as conn:
                rows = await queries.devices(conn, site=site, status=status, kind=kind, after=after, limit=limit + 1)
            views = [device_from_row(r) for r in rows[:limit]]
            next_cursor = encode_cursor(views[-1].device_id) if len(rows) > limit else None
            return msgspec.json.encode(DevicePage(views, next_cursor))

        key = f"devices:{site}:{status}:{kind}:{after}:{limit}"
        fresh = bool(min_position or x_min_position)
        page = msgspec.json.decode(await read_models.cached("registry", key, load, fresh=fresh), type=DevicePage)
        await _with_last_seen(pool, page.items)
        return Response(msgspec.json.encode(page), media_type="application/json", headers=headers)

    @get("/{device_id:str}", opt={**READ, "etag": True}, operation_id="getDevice", responses=documented(DeviceView))
    async def get_device(
        self,
        *,
        request: AnyRequest,
        pool: deps.Injected[asyncpg.Pool],
        read_models: deps.Injected[ReadModels],
        unit_of_work: deps.Injected[UnitOfWorkFactory],
        device_id: FromPath[str],
        at: Annotated[datetime | None, QueryParameter(description="Time travel: the state as of this time")] = None,
        version: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_VERSION, description="Time travel: the state after this version")
        ] = None,
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[bytes]:
        """The device from the read model (with open alerts, last seen); ``at``/``version``: rebuilt
        from its events as it was then. Not yet in the read model: rebuilt from its events."""
        if at is None and version is None:
            found = await _detail(pool, read_models, device_id, min_position, x_min_position)
            if found is not None:
                return found
        if at is not None and version is not None:
            message = "give `at` or `version`, not both"
            raise invalid("at", message)
        if at is not None:
            at = utc_moment("at", at, request.query_params.get("at"))
        async with unit_of_work(None) as uow:
            if at is None and version is None:
                device = await uow.devices.find(device_id)
            else:
                device = await uow.devices.load_as_of(device_id, version=version, at=at)
            if device is not None and (at is not None or version is not None):
                current = await uow.devices.find(device_id)
                device = None if current is None or current.state.status == "deleted" else device
        if device is None or device.state.status == "deleted":
            when = f" at {at.isoformat()}" if at else ""
            raise ProblemError(404, f"no device with id {device_id!r}{when}")
        if version is not None and device.version < version:
            raise ProblemError(
                404, f"device {device_id!r} has no version {version} yet: its versions are 1 to {device.version}"
            )
        return json_response(device_from_state(device.state, device.version), version=device.version)

    @patch("/{device_id:str}", opt=WRITE, operation_id="updateDevice", responses=documented(DeviceView, 409, 412))
    async def update(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        device_id: FromPath[str],
        data: JSONBody[UpdateDeviceBody],
    ) -> Response[bytes]:
        """Rename and/or move to another site; a name already used at the (new) site → 409. ``owner``
        replaces the owner, ``address`` the address (personal data, see docs/personal-data.md)."""
        command = UpdateDevice(
            device_id, data.name, data.site, if_match(request), owner=owner_of(data.owner), address=data.address
        )
        return await commands.run(request, handlers.update_device, command, _respond())

    @put(
        "/{device_id:str}/thresholds/{metric:str}",
        opt=WRITE,
        operation_id="setThreshold",
        responses=documented(DeviceView, 409, 412),
    )
    async def set_threshold(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        device_id: FromPath[str],
        metric: FromPath[str],
        data: JSONBody[ThresholdBody],
    ) -> Response[bytes]:
        """Set a metric's threshold: at least one of ``min``/``max``, ``min < max``."""
        command = SetThreshold(device_id, metric, data.min, data.max, data.severity, if_match(request))
        return await commands.run(request, handlers.set_threshold, command, _respond())

    @delete(
        "/{device_id:str}/thresholds/{metric:str}",
        opt=WRITE,
        operation_id="clearThreshold",
        status_code=200,
        responses=documented(DeviceView, 409, 412),
    )
    async def clear_threshold(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        device_id: FromPath[str],
        metric: FromPath[str],
    ) -> Response[bytes]:
        """Clear a metric's threshold."""
        command = ClearThreshold(device_id, metric, if_match(request))
        return await commands.run(request, handlers.clear_threshold, command, _respond())

    @post(
        "/{device_id:str}/decommission",
        opt=WRITE,
        operation_id="decommissionDevice",
        status_code=200,
        responses=documented(DeviceView, 409, 412),
    )
    async def decommission(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        device_id: FromPath[str],
    ) -> Response[bytes]:
        """Decommission; later commands on the device → 409."""
        command = DecommissionDevice(device_id, if_match(request))
        return await commands.run(request, handlers.decommission_device, command, _respond())

    @post(
        "/{device_id:str}/reactivate",
        opt=WRITE,
        operation_id="reactivateDevice",
        status_code=200,
        responses=documented(DeviceView, 409, 412),
    )
    async def reactivate(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        device_id: FromPath[str],
    ) -> Response[bytes]:
        """Put a decommissioned device back in service; 409 when it is not decommissioned, or when
        another device took its name at its site meanwhile."""
        command = ReactivateDevice(device_id, if_match(request))
        return await commands.run(request, handlers.reactivate_device, command, _respond())

    @delete(
        "/{device_id:str}",
        opt=WRITE,
        operation_id="deleteDevice",
        status_code=204,
        responses=documented(None, 409, 412),
    )
    async def delete_device(
        self,
        request: AnyRequest,
        pool: deps.Injected[asyncpg.Pool],
        commands: deps.Injected[Commands],
        device_id: FromPath[str],
    ) -> Response[None]:
        """Forget the device (active or decommissioned): every read of it then answers 404, it
        leaves the lists, its name is free at its site, its readings are deleted and further
        readings for it are rejected (``unknown_device``). Its id stays taken."""
        command = DeleteDevice(device_id, if_match(request))
        context = command_context(request)

        async def run() -> Response[bytes]:
            with translated_errors():
                result = await execute(handlers.delete_device, command, lambda: commands.unit_of_work(context))
            async with pool.acquire() as conn:
                await purge_device(conn, device_id)
            headers = {"ETag": etag(result.version), "X-Position": str(result.position)}
            return Response(b"", status_code=204, headers=headers)

        return cast(Response[None], await idempotent(request, commands.idempotency, run))

    @get("/{device_id:str}/events", opt=READ, operation_id="deviceEvents", responses=documented(EventPage, 404))
    async def events(
        self,
        *,
        unit_of_work: deps.Injected[UnitOfWorkFactory],
        event_store: deps.Injected[EventStore],
        codec: deps.Injected[EventTypeRegistry],
        device_id: FromPath[str],
        from_version: FromVersion = 1,
        cursor: VersionCursor = None,
        limit: Limit = 50,
    ) -> Response[bytes]:
        """The device's stream, oldest first, payloads in their current schema version; 404 for a
        device that was never registered."""
        start = stream_page_start(cursor, from_version)
        records = await event_store.read_stream(device_id, from_version=start, limit=limit)
        if not records and (start == 1 or not await event_store.read_stream(device_id, from_version=1, limit=1)):
            raise ProblemError(404, f"no device with id {device_id!r}")
        async with unit_of_work(None) as uow:
            current = await uow.devices.find(device_id)
        if current is None or current.state.status == "deleted":  # forgotten: its history too
            raise ProblemError(404, f"no device with id {device_id!r}: it was deleted")
        items = [event_item(codec.upcast_record(r)) for r in records]
        return json_response(EventPage(items, stream_next_cursor(records, limit)))


class DeviceBatchController(Controller):
    """``POST /v1/devices:batch`` (a path of its own: under ``/v1/devices`` it would read as an id)."""

    path = "/v1/devices:batch"
    tags = ["devices"]
    dependencies = {"commands": deps.COMMANDS}

    @post(
        "/",
        opt={**WRITE, "create": True},
        operation_id="registerDevices",
        status_code=200,
        responses=documented(BatchResult),
    )
    async def register_many(
        self,
        request: AnyRequest,
        commands: deps.Injected[Commands],
        data: JSONBody[RegisterDevicesBody],
    ) -> Response[bytes]:
        """Register up to 1000 devices: each on its own (atomic per device), a result per item in
        request order (201, or 409/422 with the reason). ``X-Position`` is the last registration's."""
        context = command_context(request)

        async def run() -> Response[bytes]:
            items: list[BatchItem] = []
            position = 0
            for index, body in enumerate(data.devices):
                command = _register_command(body)
                try:
                    with translated_errors():
                        result = await execute(
                            handlers.register_device, command, lambda: commands.unit_of_work(context)
                        )
                except ProblemError as exc:
                    items.append(BatchItem(index, exc.status, detail=exc.detail))
                    continue
                position = max(position, result.position)
                view = device_from_state(result.state, result.version, result.position)
                items.append(BatchItem(index, 201, device=view))
            created = sum(1 for i in items if i.status == 201)
            headers = {"X-Position": str(position)} if position else {}
            return json_response(BatchResult(created, len(items) - created, items), headers=headers)

        return await idempotent(request, commands.idempotency, run)


async def _detail(
    pool: asyncpg.Pool, read_models: ReadModels, device_id: str, *positions: int | None
) -> Response[bytes] | None:
    """The device from the read model; None when it does not have it (yet)."""

    async def fetch(conn: Conn) -> bytes:
        row = await queries.device(conn, device_id)
        return b"" if row is None else msgspec.json.encode(device_from_row(row))

    found = await read_models.detail("registry", f"device:{device_id}", fetch, positions)
    if found is None:
        return None
    body, headers = found
    view = msgspec.json.decode(body, type=DeviceView)
    await _with_last_seen(pool, [view])
    return Response(
        msgspec.json.encode(view), media_type="application/json", headers={**headers, "ETag": f'"{view.version}"'}
    )
