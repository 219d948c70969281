"""Alert commands and the event-sourced view of one alert (``/v1/alerts/{id}``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from sensorhub.application import alerts as handlers
from sensorhub.application.commands import execute
from sensorhub.bootstrap import Services
from sensorhub.domain.alert_commands import AcknowledgeAlert, ResolveAlert
from sensorhub.http import read_side
from sensorhub.http.openapi import documented
from sensorhub.http.problems import ProblemError
from sensorhub.http.views import AcknowledgeBody, AlertView, ResolveBody, alert_view
from sensorhub.http.write_side import (
    command_context,
    command_response,
    idempotent,
    if_match,
    json_response,
    translated_errors,
    write_side,
)


async def _run(request: Request[Any, Any, Any], services: Services, handler: Any, command: Any) -> Response[bytes]:
    ws = write_side(services)

    async def run() -> Response[bytes]:
        with translated_errors():
            result = await execute(handler, command, ws.new_uow(command_context(request)))
        view = alert_view(result.state, result.version, result.position)
        return command_response(view, version=result.version, position=result.position)

    return await idempotent(request, services, run)


class AlertsController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]

    @get(
        "/{alert_id:str}", opt={"scope": "read", "etag": True}, operation_id="getAlert", responses=documented(AlertView)
    )
    async def get_alert(
        self,
        *,
        services: NamedDependency[Services],
        alert_id: FromPath[str],
        min_position: read_side.MinPositionQuery = None,
        x_min_position: read_side.MinPositionHeader = None,
    ) -> Response[bytes]:
        """One alert from the read model; not yet there: rebuilt from its events."""
        found = await read_side.alert_detail(services, alert_id, min_position, x_min_position)
        if found is not None:
            return found
        async with write_side(services).unit_of_work() as uow:
            alert = await uow.alerts.find(alert_id)
        if alert is None:
            raise ProblemError(404, f"no alert with id {alert_id!r}")
        return json_response(alert_view(alert.state, alert.version), version=alert.version)

    @post(
        "/{alert_id:str}/acknowledge",
        opt={"scope": "write", "command": True},
        operation_id="acknowledgeAlert",
        status_code=200,
        responses=documented(AlertView, 409, 412),
    )
    async def acknowledge(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        alert_id: FromPath[str],
        data: JSONBody[AcknowledgeBody],
    ) -> Response[bytes]:
        """Acknowledge an open alert (otherwise 409)."""
        at = write_side(services).clock()
        command = AcknowledgeAlert(alert_id, data.by, data.note, at, if_match(request))
        return await _run(request, services, handlers.acknowledge_alert, command)

    @post(
        "/{alert_id:str}/resolve",
        opt={"scope": "write", "command": True},
        operation_id="resolveAlert",
        status_code=200,
        responses=documented(AlertView, 409, 412),
    )
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        alert_id: FromPath[str],
        data: JSONBody[ResolveBody],
    ) -> Response[bytes]:
        """Resolve an alert by hand (a resolved one → 409)."""
        at = write_side(services).clock()
        command = ResolveAlert(alert_id, data.by, data.note, at, if_match(request))
        return await _run(request, services, handlers.resolve_alert, command)
