"""The Litestar application: routes, middleware, auth, problem responses and the OpenAPI document.

The process's services come from the caller (``sensorhub.bootstrap.create_app``): ``open_services``
is entered in the lifespan and kept in ``app.state.services``; controllers get typed pieces of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig

from sensorhub.http import alerts, devices, events, health, keys, projections, readings, storage
from sensorhub.http.auth import PUBLIC_PATHS, ApiKeyAuthentication, scope_guard
from sensorhub.http.openapi import enrich_app_schema
from sensorhub.http.problems import exception_handlers
from sensorhub.http.request_context import request_context_middleware
from sensorhub.runtime import Services
from sensorhub.settings import Settings

ServicesFactory = Callable[[Settings], AbstractAsyncContextManager[Services]]


def route_handlers() -> list[Any]:
    """Every route the API serves (add new controllers here)."""
    return [
        health.live,
        health.ready,
        health.MetricsController,
        keys.KeysController,
        devices.DevicesController,
        alerts.AlertsController,
        events.EventsController,
        readings.ReadingsController,
        projections.ProjectionsController,
        storage.StorageController,
    ]


def build_app(settings: Settings, *, open_services: ServicesFactory, alert_stream: ChannelsPlugin) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            yield

    prometheus = PrometheusConfig(
        app_name="sensorhub",
        prefix="sensorhub_http",
        group_path=True,
        exclude=[r"^/metrics", r"^/health"],
    )
    return Litestar(
        route_handlers=route_handlers(),
        lifespan=[lifespan],
        on_startup=[enrich_app_schema],
        middleware=[
            request_context_middleware,
            prometheus.middleware,
            DefineMiddleware(ApiKeyAuthentication, exclude=[f"^{p}" for p in PUBLIC_PATHS]),
        ],
        guards=[scope_guard],
        exception_handlers=exception_handlers(),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="sensorhub",
            version="1.0.0",
            description="IoT telemetry: devices, alerts, readings, event store. See API.md in the repository.",
            path="/schema",
            components=Components(security_schemes={"BearerAuth": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"BearerAuth": []}],
        ),
        plugins=[alert_stream],
        logging_config=None,
        debug=False,
    )
