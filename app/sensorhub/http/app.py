"""The Litestar application: routes, middleware, auth, problem responses and the OpenAPI document.

The process's services come from the caller (``sensorhub.bootstrap.create_app``): ``open_services``
is entered in the lifespan and kept in ``app.state.services``; controllers get typed pieces of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar, Request
from litestar.channels import ChannelsPlugin
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig

from sensorhub.http import alerts, catalog, devices, events, health, keys, projections, readings, storage, subjects
from sensorhub.http.auth import PUBLIC_PATHS, ApiKeyAuthentication, scope_guard
from sensorhub.http.cors import cors_config
from sensorhub.http.field_errors import refuse_loose_query_values
from sensorhub.http.media_types import json_bodies_only
from sensorhub.http.methods import with_head_and_options
from sensorhub.http.openapi import enrich_app_schema
from sensorhub.http.problems import exception_handlers
from sensorhub.http.request_context import request_context_middleware
from sensorhub.http.schema_page import render_plugins
from sensorhub.http.throttle import rate_limit_guard, rate_limit_headers_middleware
from sensorhub.rate_limits import rate_limiter
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
        devices.DeviceBatchController,
        catalog.CatalogController,
        alerts.AlertsController,
        events.EventsController,
        readings.ReadingsController,
        projections.ProjectionsController,
        storage.StorageController,
        subjects.SubjectsController,
    ]


async def check_request(request: Request[Any, Any, Any]) -> None:
    """Before every handler: what its signature cannot refuse on its own."""
    await json_bodies_only(request)
    refuse_loose_query_values(request)


def build_app(settings: Settings, *, open_services: ServicesFactory, alert_stream: ChannelsPlugin) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            app.state.rate_limiter = rate_limiter(settings.rate_limits, settings.rate_limit_window_s, services.redis)
            yield

    prometheus = PrometheusConfig(
        app_name="sensorhub",
        prefix="sensorhub_http",
        group_path=True,
        exclude=[r"^/metrics", r"^/health"],
    )
    app = Litestar(
        route_handlers=route_handlers(),
        lifespan=[lifespan],
        on_startup=[enrich_app_schema],
        middleware=[
            request_context_middleware,
            prometheus.middleware,
            rate_limit_headers_middleware,
            DefineMiddleware(
                ApiKeyAuthentication, exclude=[f"^{p}" for p in PUBLIC_PATHS], exclude_http_methods=["OPTIONS"]
            ),
        ],
        guards=[scope_guard, rate_limit_guard],
        before_request=check_request,
        cors_config=cors_config(settings),
        exception_handlers=exception_handlers(),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="sensorhub",
            version="1.0.0",
            description="IoT telemetry: devices, alerts, readings, event store. See API.md in the repository.",
            path="/schema",
            components=Components(security_schemes={"BearerAuth": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"BearerAuth": []}],
            render_plugins=render_plugins(),
        ),
        plugins=[alert_stream],
        logging_config=None,
        debug=False,
    )
    with_head_and_options(app)
    return app
