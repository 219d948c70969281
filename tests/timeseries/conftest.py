"""The time-series suite runs once per engine (``engine`` fixture): same data, same expected results."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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
from sensorhub.timeseries.store import TimeSeriesStore

# A fixed "now" for the suite: every engine sees the same clock.
NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)


def reading(device_id: str, metric: str, time: datetime, value: float) -> dict[str, Any]:
    return {"device_id": device_id, "metric": metric, "time": time.isoformat(), "value": value}


@dataclass
class TimeSeries:
    pool: asyncpg.Pool
    store: TimeSeriesStore
    ingest: ReadingsIngest
    url: str
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
        return await self.ingest.ingest(parse_json(body), CommandContext(actor="test"))

    async def stored(self) -> list[tuple[str, str, datetime, float]]:
        rows = await self.pool.fetch("SELECT device_id, metric, time, value FROM readings ORDER BY 1, 2, 3")
        return [tuple(r) for r in rows]  # type: ignore[misc]

    async def alerts(self) -> list[tuple[Any, ...]]:
        """Every alert event, in a comparable form (ids are deterministic)."""
        rows = await self.pool.fetch(
            "SELECT stream_id, type, data FROM events WHERE type LIKE 'Alert%' ORDER BY position"
        )
        return [(r["stream_id"], r["type"], r["data"]) for r in rows]


@pytest.fixture
async def ts(engine: str, engine_database_url: str) -> AsyncIterator[TimeSeries]:
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
    env = TimeSeries(pool, store, ingest, engine_database_url, clock)
    yield env
    await pool.close()


Clock = Callable[[], datetime]
