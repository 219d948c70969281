"""Device commands and event-sourced reads (``/v1/devices``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from sensorhub.application import devices as handlers
from sensorhub.application.commands import execute
from sensorhub.application.results import CommandResult
from sensorhub.bootstrap import Services
from sensorhub.domain.device import DeviceState
from sensorhub.domain.device_commands import (
    ClearThreshold,
    DecommissionDevice,
    RegisterDevice,
    SetThreshold,
    UpdateDevice,
)
from sensorhub.domain.values import Metric
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.http import read_side
from sensorhub.http.device_reads import DeviceListRoutes
from sensorhub.http.field_errors import invalid, plus_hint
from sensorhub.http.openapi import documented
from sensorhub.http.problems import ProblemError
from sensorhub.http.views import (
    DeviceView,
    EventPage,
    RegisterDeviceBody,
    ThresholdBody,
    UpdateDeviceBody,
    device_view,
    event_item,
)
from sensorhub.http.write_side import (
    command_context,
    command_response,
    idempotent,
    if_match,
    json_response,
    translated_errors,
    write_side,
)

WRITE = {"scope": "write", "command": True}
READ = {"scope": "read"}


def _respond(result: CommandResult[DeviceState], status: int = 200) -> Response[bytes]:
    location = f"/v1/devices/{result.state.device_id}" if status == 201 else None
    view = device_view(result.state, result.version, result.position)
    return command_response(view, version=result.version, position=result.position, status=status, location=location)


async def _run(
    request: Request[Any, Any, Any], services: Services, handler: Any, command: Any, status: int = 200
) -> Response[bytes]:
    ws = write_side(services)

    async def run() -> Response[bytes]:
        with translated_errors():
            result = await execute(handler, command, ws.new_uow(command_context(request)))
        return _respond(result, status)

    return await idempotent(request, services, run)


class DevicesController(DeviceListRoutes, Controller):
    path = "/v1/devices"
    tags = ["devices"]

    @post(
        "/",
        opt={**WRITE, "create": True},
        operation_id="registerDevice",
        status_code=201,
        responses=documented(DeviceView, 409, status=201),
    )
    async def register(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: JSONBody[RegisterDeviceBody]
    ) -> Response[bytes]:
        """Register a device → 201 with ``Location``; an id already taken → 409."""
        command = RegisterDevice(
            device_id=data.device_id or uuid.uuid4().hex,
            name=data.name,
            site=data.site,
            kind=data.kind,
            metrics=tuple(Metric(m.name, m.unit) for m in data.metrics),
        )
        return await _run(request, services, handlers.register_device, command, 201)

    @get("/{device_id:str}", opt={**READ, "etag": True}, operation_id="getDevice", responses=documented(DeviceView))
    async def get_device(
        self,
        *,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        device_id: FromPath[str],
        at: Annotated[datetime | None, QueryParameter(description="Time travel: the state as of this time")] = None,
        version: Annotated[
            int | None, QueryParameter(ge=1, le=2**63 - 1, description="Time travel: the state after this version")
        ] = None,
        min_position: read_side.MinPositionQuery = None,
        x_min_position: read_side.MinPositionHeader = None,
    ) -> Response[bytes]:
        """The device from the read model (with open alerts, last seen); ``at``/``version``: rebuilt
        from its events as it was then. Not yet in the read model: rebuilt from its events."""
        if at is None and version is None:
            found = await read_side.device_detail(services, device_id, min_position, x_min_position)
            if found is not None:
                return found
        if at is not None and version is not None:
            message = "give `at` or `version`, not both"
            raise ProblemError(422, message, extra=invalid("at", message))
        if at is not None and at.tzinfo is None:
            message = "`at` needs a time zone offset, e.g. 2026-01-01T12:00:00Z"
            message += plus_hint(request.query_params.get("at"))
            raise ProblemError(422, message, extra=invalid("at", message))
        async with write_side(services).unit_of_work() as uow:
            if at is None and version is None:
                device = await uow.devices.find(device_id)
            else:
                device = await uow.devices.load_as_of(device_id, version=version, at=at)
        if device is None:
            when = f" at {at.isoformat()}" if at else ""
            raise ProblemError(404, f"no device with id {device_id!r}{when}")
        if version is not None and device.version < version:
            raise ProblemError(
                404, f"device {device_id!r} has no version {version} yet: its versions are 1 to {device.version}"
            )
        return json_response(device_view(device.state, device.version), version=device.version)

    @patch("/{device_id:str}", opt=WRITE, operation_id="updateDevice", responses=documented(DeviceView, 409, 412))
    async def update(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        device_id: FromPath[str],
        data: JSONBody[UpdateDeviceBody],
    ) -> Response[bytes]:
        """Rename and/or move to another site."""
        command = UpdateDevice(device_id, data.name, data.site, if_match(request))
        return await _run(request, services, handlers.update_device, command)

    @put(
        "/{device_id:str}/thresholds/{metric:str}",
        opt=WRITE,
        operation_id="setThreshold",
        responses=documented(DeviceView, 409, 412),
    )
    async def set_threshold(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        device_id: FromPath[str],
        metric: FromPath[str],
        data: JSONBody[ThresholdBody],
    ) -> Response[bytes]:
        """Set a metric's threshold: at least one of ``min``/``max``, ``min < max``."""
        command = SetThreshold(device_id, metric, data.min, data.max, data.severity, if_match(request))
        return await _run(request, services, handlers.set_threshold, command)

    @delete(
        "/{device_id:str}/thresholds/{metric:str}",
        opt=WRITE,
        operation_id="clearThreshold",
        status_code=200,
        responses=documented(DeviceView, 409, 412),
    )
    async def clear_threshold(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        device_id: FromPath[str],
        metric: FromPath[str],
    ) -> Response[bytes]:
        """Clear a metric's threshold."""
        command = ClearThreshold(device_id, metric, if_match(request))
        return await _run(request, services, handlers.clear_threshold, command)

    @post(
        "/{device_id:str}/decommission",
        opt=WRITE,
        operation_id="decommissionDevice",
        status_code=200,
        responses=documented(DeviceView, 409, 412),
    )
    async def decommission(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], device_id: FromPath[str]
    ) -> Response[bytes]:
        """Decommission; later commands on the device → 409."""
        command = DecommissionDevice(device_id, if_match(request))
        return await _run(request, services, handlers.decommission_device, command)

    @get("/{device_id:str}/events", opt=READ, operation_id="deviceEvents", responses=documented(EventPage, 404))
    async def events(
        self,
        services: NamedDependency[Services],
        device_id: FromPath[str],
        from_version: Annotated[
            int, QueryParameter(ge=1, le=2**63 - 1, description="First stream version to return")
        ] = 1,
        cursor: Annotated[
            str | None, QueryParameter(description="`next_cursor` of the previous page (instead of `from_version`)")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="Page size (default 50, at most 1000)")] = 50,
    ) -> Response[bytes]:
        """The device's stream, oldest first, payloads in their current schema version; 404 for a
        device that was never registered."""
        registry = write_side(services).registry
        store = PostgresEventStore(services.pool)
        start = version_cursor(cursor) if cursor is not None else from_version
        records = await store.read_stream(device_id, from_version=start, limit=limit)
        if not records and (start == 1 or not await store.read_stream(device_id, from_version=1, limit=1)):
            raise ProblemError(404, f"no device with id {device_id!r}")
        items = [event_item(registry.upcast_record(r)) for r in records]
        more = len(items) == limit
        return json_response(EventPage(items, str(records[-1].stream_version + 1) if more else None))


def version_cursor(cursor: str) -> int:
    """A device stream's ``next_cursor`` back as the stream version it stands for."""
    if not cursor.isdigit() or not 1 <= int(cursor) < 2**63:
        message = "`cursor` is not one this API returned; pass `next_cursor` from the previous page unchanged"
        raise ProblemError(422, message, extra={"errors": [{"field": "cursor", "message": message}]})
    return int(cursor)


__all__ = ["DeviceView", "DevicesController"]
