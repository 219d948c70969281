"""The time-series suite runs once per engine (``engine`` fixture) and storage (``storage``): same
data, same expected results, whether the days are raw, compressed (packed after every write) or
mixed (what was written before is packed, the newest write is raw, late readings land in packed days)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sensorhub.application.devices import decommission_device, register_device, set_threshold
from sensorhub.application.unit_of_work import CommandContext
from sensorhub.db import init_connection
from sensorhub.domain.device_commands import DecommissionDevice, RegisterDevice, SetThreshold
from sensorhub.domain.values import Metric
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work
from sensorhub.ingest.catalog import EventStoreDeviceCatalog
from sensorhub.ingest.rows import parse_json
from sensorhub.ingest.service import IngestResult, ReadingsIngest
from sensorhub.timeseries.compression import CompressionReport, compress_day
from sensorhub.timeseries.store import TimeSeriesStore

# A fixed "now" for the suite: every engine sees the same clock.
NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
STORAGES = ("raw", "compressed", "mixed")

# Every reading, raw or packed, as a FROM item (columns device_id, metric, time, value).
EVERY_READING = """(
    SELECT device_id, metric, time, value FROM readings
    UNION ALL
    SELECT p.device_id, p.metric, unnest(p.times), unnest(p.vals) FROM readings_packed p
) AS every_reading"""
ALL_READINGS = f"SELECT device_id, metric, time, value FROM {EVERY_READING} ORDER BY 1, 2, 3"


async def pack_everything(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, store: TimeSeriesStore) -> int:
    """Compress every day that has raw readings, whatever its age (what the job does to sealed days)."""
    report = CompressionReport()
    for partition in await store.engine.partitions(conn):
        await compress_day(conn, partition, 2, report)
    return report.readings


class Storage:
    """Brings the data into the form a ``storage`` parameter names around each write."""

    def __init__(self, kind: str, pool: asyncpg.Pool, store: TimeSeriesStore) -> None:
        self.kind, self.pool, self.store = kind, pool, store

    async def before_write(self) -> None:
        if self.kind == "mixed":
            async with self.pool.acquire() as conn:
                await pack_everything(conn, self.store)

    async def after_write(self) -> None:
        if self.kind == "compressed":
            async with self.pool.acquire() as conn:
                await pack_everything(conn, self.store)


@asynccontextmanager
async def storage_around_ingest(client: Any, kind: str, url: str) -> AsyncIterator[None]:
    """Wrap ``client.post`` so that every ``POST /v1/readings`` is surrounded by ``kind``'s packing."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, init=init_connection)
    try:
        async with pool.acquire() as conn:
            storage = Storage(kind, pool, await TimeSeriesStore.open(conn))
        post = client.post

        async def post_around(url: str, *args: Any, **kwargs: Any) -> Any:
            ingest = url.startswith("/v1/readings")
            if ingest:
                await storage.before_write()
            response = await post(url, *args, **kwargs)
            if ingest:
                await storage.after_write()
            return response

        client.post = post_around
        yield
    finally:
        await pool.close()


@pytest.fixture(params=STORAGES)
def storage(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over raw, compressed and mixed days."""
    return str(request.param)


def reading(device_id: str, metric: str, time: datetime, value: float) -> dict[str, Any]:
    return {"device_id": device_id, "metric": metric, "time": time.isoformat(), "value": value}


@dataclass
class TimeSeries:
    pool: asyncpg.Pool
    store: TimeSeriesStore
    ingest: ReadingsIngest
    url: str
    storage: Storage
    now: list[datetime] = field(default_factory=lambda: [NOW])

    async def register(self, device_id: str, *metrics: str, site: str = "plant-1") -> None:
        cmd = RegisterDevice(device_id, device_id, site, "sensor", tuple(Metric(m, "u") for m in metrics))
        async with postgres_unit_of_work(self.pool, build_registry()) as uow:
            await register_device(cmd, uow)

    async def threshold(self, device_id: str, metric: str, lo: float | None, hi: float | None) -> None:
        async with postgres_unit_of_work(self.pool, build_registry()) as uow:
            await set_threshold(SetThreshold(device_id, metric, lo, hi, "warning"), uow)

    async def decommission(self, device_id: str) -> None:
        async with postgres_unit_of_work(self.pool, build_registry()) as uow:
            await decommission_device(DecommissionDevice(device_id), uow)

    async def send(self, rows: list[dict[str, Any]]) -> IngestResult:
        import msgspec

        body = msgspec.json.encode({"readings": rows})
        await self.storage.before_write()
        result = await self.ingest.ingest(parse_json(body), CommandContext(actor="test"))
        await self.ingest.upkeep.settle()  # latest values and marks drained (tests/timeseries/test_upkeep.py: before)
        await self.storage.after_write()
        return result

    async def stored(self) -> list[tuple[str, str, datetime, float]]:
        rows = await self.pool.fetch(ALL_READINGS)
        return [tuple(r) for r in rows]  # type: ignore[misc]

    async def alerts(self) -> list[tuple[Any, ...]]:
        """Every alert event, in a comparable form (ids are deterministic)."""
        rows = await self.pool.fetch(
            "SELECT stream_id, type, data FROM events WHERE type LIKE 'Alert%' ORDER BY position"
        )
        return [(r["stream_id"], r["type"], r["data"]) for r in rows]


@pytest.fixture
async def ts(engine: str, storage: str, engine_database_url: str) -> AsyncIterator[TimeSeries]:
    pool = await asyncpg.create_pool(engine_database_url, min_size=1, max_size=4, init=init_connection)
    async with pool.acquire() as conn:
        store = await TimeSeriesStore.open(conn)
    assert store.info.name == engine
    clock: list[datetime] = [NOW]
    ingest = ReadingsIngest(
        pool,
        store,
        EventStoreDeviceCatalog(build_registry()),
        build_registry(),
        retention_days=30,
        clock=lambda: clock[0],
    )
    env = TimeSeries(pool, store, ingest, engine_database_url, Storage(storage, pool, store), clock)
    yield env
    await pool.close()


Clock = Callable[[], datetime]
