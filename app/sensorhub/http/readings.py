"""Readings over HTTP: ingest (``POST /v1/readings``) and time-series queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from sensorhub.http import dependencies as deps
from sensorhub.http.commands import command_context
from sensorhub.http.openapi import ReadingsBodyOperation
from sensorhub.http.problems import ProblemError, invalid
from sensorhub.http.reads import MinPositionHeader, MinPositionQuery, ReadModels
from sensorhub.http.throttle import ROWS, charge
from sensorhub.ingest.rows import BodyError, TooManyRows, parse_body
from sensorhub.runtime import TimeSeries
from sensorhub.settings import Settings
from sensorhub.timeseries import queries
from sensorhub.timeseries.sites import site_summary
from sensorhub.timeseries.store import BucketSpec, SeriesRange

INGEST = {"scope": "ingest", "cost": ROWS}
BUCKET_PATTERN = r"^[1-9][0-9]{0,5}[smhdw]$"
_AGG = "(" + "|".join(queries.AGGREGATES) + ")"
AGG_PATTERN = f"^{_AGG}(,{_AGG})*$"
READ = {"scope": "read"}


class RejectedRow(msgspec.Struct):
    index: int
    reason: str
    detail: str


class IngestResponse(msgspec.Struct):
    accepted: int
    duplicates: int
    rejected: list[RejectedRow]
    alerts_raised: int
    alerts_resolved: int


class ReadingsPage(msgspec.Struct):
    device_id: str
    metric: str
    bucket: str | None
    items: list[dict[str, Any]]


class LatestValue(msgspec.Struct):
    metric: str
    time: datetime
    value: float


class LatestReadings(msgspec.Struct):
    device_id: str
    items: list[LatestValue]


class SiteSummaryView(msgspec.Struct):
    site: str
    devices: int
    active: int
    open_alerts: dict[str, int]
    readings_last_hour: int


def _check_range(start: datetime, end: datetime, settings: Settings) -> None:
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise invalid(name, f"`{name}` needs a UTC offset, e.g. 2025-01-01T00:00:00Z")
    if end <= start:
        raise invalid("to", "`to` must be later than `from`")
    limit = settings.readings_max_span_days
    if end - start > timedelta(days=limit):
        span = (end - start).total_seconds() / 86400
        raise invalid("to", f"the range spans {span:g} days; the most one query may ask for is {limit:g} days")


class ReadingsController(Controller):
    tags = ["readings"]
    dependencies = {
        "pool": deps.POOL,
        "settings": deps.SETTINGS,
        "timeseries": deps.TIMESERIES,
        "read_models": deps.READ_MODELS,
    }

    @post(
        "/v1/readings",
        opt=INGEST,
        status_code=200,
        operation_id="ingestReadings",
        operation_class=ReadingsBodyOperation,
    )
    async def ingest(
        self, request: Request[Any, Any, Any], timeseries: deps.Injected[TimeSeries], settings: deps.Injected[Settings]
    ) -> IngestResponse:
        """Ingest a batch: ``{"readings": [{device_id, metric, time, value}]}``, NDJSON
        (``application/x-ndjson``) or CSV (``text/csv`` with header ``device_id,metric,time,value``).
        Bad rows are rejected one by one with a reason; the accepted rows are stored atomically."""
        body = await request.body()
        try:
            parsed = parse_body(body, request.headers.get("content-type", ""), settings.ingest_max_rows)
        except TooManyRows as exc:
            raise ProblemError(413, str(exc)) from None
        except BodyError as exc:
            status = 415 if "content type" in str(exc) else 422
            raise ProblemError(status, str(exc), extra={"errors": [{"field": "body", "message": str(exc)}]}) from None
        await charge(request, "ingest", parsed.total)
        result = await timeseries.ingest.ingest(parsed, command_context(request))
        return IngestResponse(
            result.accepted,
            result.duplicates,
            [RejectedRow(r.index, r.reason, r.detail) for r in result.rejected],
            result.alerts_raised,
            result.alerts_resolved,
        )

    @get("/v1/devices/{device_id:str}/readings", opt=READ, operation_id="deviceReadings")
    async def readings(
        self,
        *,
        pool: deps.Injected[asyncpg.Pool],
        settings: deps.Injected[Settings],
        timeseries: deps.Injected[TimeSeries],
        device_id: FromPath[str],
        metric: Annotated[str, QueryParameter(description="The metric, e.g. temperature")],
        start: Annotated[datetime, QueryParameter(name="from", description="Range start (inclusive), RFC 3339")],
        end: Annotated[datetime, QueryParameter(name="to", description="Range end (exclusive), RFC 3339")],
        bucket: Annotated[
            str | None, QueryParameter(pattern=BUCKET_PATTERN, description="Bucket width: 30s, 5m, 1h, 1d, 1w")
        ] = None,
        agg: Annotated[
            str | None,
            QueryParameter(
                pattern=AGG_PATTERN,
                description=f"With `bucket`: comma-separated aggregates among {', '.join(queries.AGGREGATES)}"
                " (default avg)",
            ),
        ] = None,
        fill: Annotated[
            str | None,  # not a Literal: Litestar would read `fill=null` as None
            QueryParameter(
                pattern=f"^({'|'.join(queries.FILLS)})$",
                schema_extra={"enum": list(queries.FILLS)},
                description="With `bucket`: how empty buckets appear (default none: absent)",
            ),
        ] = None,
    ) -> ReadingsPage:
        """Raw readings of one series in ``[from, to)``, or epoch-aligned buckets with aggregates and gap filling."""
        _check_range(start, end, settings)
        if bucket is None:
            for name, value in (("agg", agg), ("fill", fill)):
                if value is not None:
                    raise invalid(name, f"`{name}` applies to buckets: add `bucket` (e.g. bucket=1h) or drop `{name}`")
        series = SeriesRange(device_id, metric, start, end)
        points = settings.readings_max_points
        async with pool.acquire() as conn:
            device = (await timeseries.ingest.catalog.get(conn, [device_id])).get(device_id)
            if device is None:
                raise ProblemError(404, f"no device with id {device_id!r}")
            if metric not in device.metrics:
                known = ", ".join(sorted(device.metrics))
                raise invalid("metric", f"device {device_id!r} has no metric {metric!r}; its metrics: {known}")
            if bucket is None:
                raw = await timeseries.store.raw(conn, series, points + 1)
                if len(raw) > points:
                    raise invalid(
                        "to", f"more than {points} readings in this range: narrow it or ask for buckets (`bucket=1m`)"
                    )
                return ReadingsPage(device_id, metric, None, [{"time": p.time, "value": p.value} for p in raw])
            spec = _bucket_spec(bucket=bucket, agg=agg, fill=fill or "none", start=start, end=end, points=points)
            items = await timeseries.store.buckets(conn, series, spec)
        return ReadingsPage(device_id, metric, bucket, items)

    @get("/v1/devices/{device_id:str}/latest", opt=READ, operation_id="deviceLatest")
    async def latest(
        self, pool: deps.Injected[asyncpg.Pool], timeseries: deps.Injected[TimeSeries], device_id: FromPath[str]
    ) -> LatestReadings:
        """The latest value and its time, per metric of the device."""
        async with pool.acquire() as conn:
            if device_id not in await timeseries.ingest.catalog.get(conn, [device_id]):
                raise ProblemError(404, f"no device with id {device_id!r}")
            latest = await timeseries.store.latest(conn, device_id)
        return LatestReadings(device_id, [LatestValue(m, p.time, p.value) for m, p in latest])

    @get("/v1/sites/{site:str}/summary", opt=READ, operation_id="siteSummary")
    async def summary(
        self,
        *,
        pool: deps.Injected[asyncpg.Pool],
        timeseries: deps.Injected[TimeSeries],
        read_models: deps.Injected[ReadModels],
        site: FromPath[str],
        min_position: MinPositionQuery = None,
        x_min_position: MinPositionHeader = None,
    ) -> Response[SiteSummaryView]:
        """Devices, active devices, open alerts by severity (``registry`` read model; eventually
        consistent, ``X-Stale`` as for the other reads) and readings in the last hour, for one site."""
        headers = await read_models.consistent(("registry",), min_position, x_min_position)
        async with pool.acquire() as conn:
            found = await site_summary(conn, timeseries.store, site, datetime.now(UTC))
        if found is None:
            raise ProblemError(404, f"no devices at site {site!r}", headers=headers)
        view = SiteSummaryView(found.site, found.devices, found.active, found.open_alerts, found.readings_last_hour)
        return Response(view, headers=headers)


def _bucket_spec(*, bucket: str, agg: str | None, fill: str, start: datetime, end: datetime, points: int) -> BucketSpec:
    try:
        width = queries.parse_bucket(bucket)
        aggregates = queries.parse_aggregates(agg)
        mode = queries.parse_fill(fill)
    except queries.QueryError as exc:
        raise invalid(exc.field, str(exc)) from None
    buckets = (end - start) / width + 1
    if buckets > points:
        raise invalid(
            "bucket", f"{bucket} buckets over this range make about {int(buckets)}; the most is {points}: widen them"
        )
    return BucketSpec(width, aggregates, mode)
