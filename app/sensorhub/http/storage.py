"""How readings are stored, per day: ``GET /v1/admin/storage`` (admin), and the storage gauges on
``/metrics`` (bytes per reading raw and packed, days compressed), refreshed at most once a minute."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, get

from sensorhub.http import dependencies as deps
from sensorhub.observability import READINGS_BYTES_PER_READING, READINGS_DAYS_COMPRESSED
from sensorhub.runtime import TimeSeries
from sensorhub.timeseries.compression import StorageReport, storage_report

GAUGES_MAX_AGE_S = 60.0
_refreshed = [float("-inf")]


class DayView(msgspec.Struct):
    day: date
    raw_bytes: int
    raw_readings: int
    packed_bytes: int
    packed_readings: int


class StorageView(msgspec.Struct):
    engine: str
    compression: str
    days_compressed: int
    bytes_per_reading: dict[str, float | None]
    packed_table_bytes: int
    days: list[DayView]


async def _report(pool: asyncpg.Pool, timeseries: TimeSeries) -> StorageReport:
    store = timeseries.store
    async with pool.acquire() as conn:
        report = await storage_report(conn, timeseries.compression, await store.engine.partitions(conn))
    _set_gauges(report)
    return report


def _set_gauges(report: StorageReport) -> None:
    for form, value in report.bytes_per_reading().items():
        READINGS_BYTES_PER_READING.labels(form).set(value if value is not None else float("nan"))
    READINGS_DAYS_COMPRESSED.set(report.days_compressed)
    _refreshed[0] = time.monotonic()


async def refresh_gauges(request: Request[Any, Any, Any]) -> None:
    """``before_request`` of ``/metrics``: recompute the storage gauges when they are a minute old."""
    if time.monotonic() - _refreshed[0] < GAUGES_MAX_AGE_S:
        return
    services = deps.services_of(request.app.state)
    if services.timeseries is not None:
        await _report(services.pool, services.timeseries)


class StorageController(Controller):
    path = "/v1/admin/storage"
    tags = ["operations"]
    dependencies = {"pool": deps.POOL, "timeseries": deps.TIMESERIES}

    @get("/", opt={"scope": "admin"}, operation_id="getStorage")
    async def storage(self, pool: deps.Injected[asyncpg.Pool], timeseries: deps.Injected[TimeSeries]) -> StorageView:
        """Per UTC day: raw partition bytes and rows (planner estimate), packed readings and bytes."""
        report = await _report(pool, timeseries)
        return StorageView(
            engine=timeseries.store.info.name,
            compression=report.method,
            days_compressed=report.days_compressed,
            bytes_per_reading=report.bytes_per_reading(),
            packed_table_bytes=report.packed_table_bytes,
            days=[DayView(d.day, d.raw_bytes, d.raw_readings, d.packed_bytes, d.packed_readings) for d in report.days],
        )
