"""Readings over HTTP: ingest (``POST /v1/readings``) and time-series queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from sensorhub.http import dependencies as deps
from sensorhub.http.commands import command_context
from sensorhub.http.export import EXPORT_FORMATS, ExportOperation, export_chunks
from sensorhub.http.openapi import ReadingsBodyOperation
from sensorhub.http.problems import ProblemError, invalid
from sensorhub.http.reads import MinPositionHeader, MinPositionQuery, ReadModels, decode_cursor, encode_cursor
from sensorhub.http.throttle import ROWS, charge
from sensorhub.http.times import utc_range
from sensorhub.ingest.rows import BodyError, TooManyRows, parse_body
from sensorhub.runtime import TimeSeries
from sensorhub.settings import Settings
from sensorhub.timeseries import queries
from sensorhub.timeseries.export import export_batches
from sensorhub.timeseries.sites import site_summary
from sensorhub.timeseries.store import BucketSpec, SeriesRange

INGEST = {"scope": "ingest", "cost": ROWS}
BUCKET_PATTERN = r"^[1-9][0-9]{0,5}[smhdw]$"
_AGG = "(" + "|".join(queries.AGGREGATES) + ")"
AGG_PATTERN = f"^{_AGG}(,{_AGG})*$"
READ = {"scope": "read"}
MAX_PAGE = 1_000_000  # the document's bound; the configured SENSORHUB_READINGS_MAX_POINTS is enforced


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
    next_cursor: str | None = None  # raw readings only: pass it back as `cursor` for the next page


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


def _check_range(start: datetime, end: datetime, settings: Settings) -> tuple[datetime, datetime]:
    start, end = utc_range(start, end)
    limit = settings.readings_max_span_days
    if end - start > timedelta(days=limit):
        span = (end - start).total_seconds() / 86400
        raise invalid("to", f"the range spans {span:g} days; the most one query may ask for is {limit:g} days")
    return start, end


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
        limit: Annotated[
            int | None,
            QueryParameter(
                ge=1,
                le=MAX_PAGE,
                description="Raw readings: page size (default and most: `SENSORHUB_READINGS_MAX_POINTS`, 10000)",
            ),
        ] = None,
        cursor: Annotated[
            str | None, QueryParameter(description="Raw readings: `next_cursor` of the previous page")
        ] = None,
    ) -> ReadingsPage:
        """Raw readings of one series in ``[from, to)``, oldest first, in pages (``limit``,
        ``cursor`` → ``next_cursor``), or epoch-aligned buckets with aggregates and gap filling."""
        start, end = _check_range(start, end, settings)
        points = settings.readings_max_points
        after: datetime | None = None
        if bucket is None:
            for name, value in (("agg", agg), ("fill", fill)):
                if value is not None:
                    raise invalid(name, f"`{name}` applies to buckets: add `bucket` (e.g. bucket=1h) or drop `{name}`")
            if limit is not None and limit > points:
                raise invalid("limit", f"`limit` is at most {points} (SENSORHUB_READINGS_MAX_POINTS)")
            after = _time_cursor(cursor) if cursor is not None else None
        else:
            for name, value in (("limit", limit), ("cursor", cursor)):
                if value is not None:
                    raise invalid(name, f"`{name}` pages raw readings; buckets come in one answer: drop `{name}`")
        series = SeriesRange(device_id, metric, start, end)
        async with pool.acquire() as conn:
            device = (await timeseries.ingest.catalog.get(conn, [device_id])).get(device_id)
            if device is None:
                raise ProblemError(404, f"no device with id {device_id!r}")
            if metric not in device.metrics:
                known = ", ".join(sorted(device.metrics))
                raise invalid("metric", f"device {device_id!r} has no metric {metric!r}; its metrics: {known}")
            if bucket is None:
                size = limit or points
                raw = await timeseries.store.raw_page(conn, series, after, size + 1)
                more = encode_cursor(raw[size - 1].time.isoformat()) if len(raw) > size else None
                items = [{"time": p.time, "value": p.value} for p in raw[:size]]
                return ReadingsPage(device_id, metric, None, items, more)
            spec = _bucket_spec(bucket=bucket, agg=agg, fill=fill or "none", start=start, end=end, points=points)
            items = await timeseries.store.buckets(conn, series, spec)
        return ReadingsPage(device_id, metric, bucket, items)

    @get(
        "/v1/devices/{device_id:str}/readings/export",
        opt=READ,
        operation_id="exportReadings",
        operation_class=ExportOperation,
    )
    async def export(
        self,
        *,
        pool: deps.Injected[asyncpg.Pool],
        timeseries: deps.Injected[TimeSeries],
        device_id: FromPath[str],
        start: Annotated[datetime, QueryParameter(name="from", description="Range start (inclusive), RFC 3339")],
        end: Annotated[datetime, QueryParameter(name="to", description="Range end (exclusive), RFC 3339")],
        metric: Annotated[
            str | None, QueryParameter(description="Only this metric (default: every metric of the device)")
        ] = None,
        export_format: Annotated[
            str | None,  # not a Literal: Litestar would read `format=null` as None
            QueryParameter(
                name="format",
                pattern=f"^({'|'.join(EXPORT_FORMATS)})$",
                schema_extra={"enum": list(EXPORT_FORMATS)},
                description="`csv` (default; the header and columns `POST /v1/readings` takes) or `ndjson`",
            ),
        ] = None,
    ) -> Stream:
        """Every reading of the device in ``[from, to)`` (any span), streamed: by metric, then oldest
        first, read in keyset batches, so memory does not grow with the range."""
        start, end = utc_range(start, end)
        async with pool.acquire() as conn:
            device = (await timeseries.ingest.catalog.get(conn, [device_id])).get(device_id)
        if device is None:
            raise ProblemError(404, f"no device with id {device_id!r}")
        if metric is not None and metric not in device.metrics:
            known = ", ".join(sorted(device.metrics))
            raise invalid("metric", f"device {device_id!r} has no metric {metric!r}; its metrics: {known}")
        fmt = export_format or "csv"
        metrics = [metric] if metric is not None else sorted(device.metrics)
        batches = export_batches(pool, timeseries.store, device_id, metrics=metrics, start=start, end=end)
        chunks = export_chunks(device_id, batches, fmt)
        filename = f"{device_id}-readings.{fmt}"
        return Stream(
            chunks,
            media_type=EXPORT_FORMATS[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

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


def _time_cursor(cursor: str) -> datetime:
    """A raw readings ``next_cursor`` back as the time of the last reading returned."""
    raw = decode_cursor(cursor, tuple[str])[0]
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        message = "`cursor` is not one this API returned; pass `next_cursor` from the previous page unchanged"
        raise invalid("cursor", message)
    return moment


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
