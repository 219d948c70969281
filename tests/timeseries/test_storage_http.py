"""``GET /v1/admin/storage`` and the storage gauges on ``/metrics``, on every engine, before and after
the days are packed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sensorhub.db import init_connection
from sensorhub.http import storage
from sensorhub.timeseries.store import TimeSeriesStore

from tests.support.app import auth, client_for, settings_for
from tests.timeseries.conftest import pack_everything

DEVICE = {
    "device_id": "meter-1",
    "name": "Meter",
    "site": "plant-a",
    "kind": "meter",
    "metrics": [{"name": "power", "unit": "kW"}],
}


@pytest.fixture
async def client(engine_database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    async with client_for(settings_for(engine_database_url, compress_after_days="2")) as c:
        yield c


def _gauge(exposition: str, name: str) -> str:
    return next(line.split()[-1] for line in exposition.splitlines() if line.startswith(name))


async def test_storage_per_day_before_and_after_packing(client: AsyncTestClient[Any], engine_database_url: str) -> None:
    assert (await client.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    rows = [
        {"device_id": "meter-1", "metric": "power", "time": (day + timedelta(minutes=m)).isoformat(), "value": m / 4}
        for m in range(0, 1440, 5)
    ]
    assert (await client.post("/v1/readings", json={"readings": rows}, headers=auth())).status_code == 200

    before = await client.get("/v1/admin/storage", headers=auth())
    assert before.status_code == 200, before.text
    body = before.json()
    assert body["compression"] == "packed" and body["days_compressed"] == 0
    assert body["bytes_per_reading"]["packed"] is None

    pool = await asyncpg.create_pool(engine_database_url, min_size=1, max_size=2, init=init_connection)
    try:
        async with pool.acquire() as conn:
            await pack_everything(conn, await TimeSeriesStore.open(conn))
    finally:
        await pool.close()
    after = (await client.get("/v1/admin/storage", headers=auth())).json()
    packed_day = next(d for d in after["days"] if d["day"] == day.date().isoformat())
    assert (after["days_compressed"], packed_day["packed_readings"]) == (1, 288)
    assert packed_day["packed_bytes"] > 0 and after["bytes_per_reading"]["packed"] > 0

    storage._refreshed[0] = float("-inf")  # pyright: ignore[reportPrivateUsage]  # the gauges' minute is up
    metrics = (await client.get("/metrics")).text
    assert _gauge(metrics, "sensorhub_readings_days_compressed") == "1.0"
    assert float(_gauge(metrics, 'sensorhub_readings_bytes_per_reading{form="packed"}')) > 0


async def test_storage_needs_the_admin_scope(client: AsyncTestClient[Any]) -> None:
    assert (await client.get("/v1/admin/storage")).status_code == 401


@pytest.mark.parametrize(("env", "method"), [({}, "off"), ({"compression": "off", "compress_after_days": "2"}, "off"),
                                             ({"compression": "packed", "compress_after_days": "2"}, "packed")])
async def test_the_storage_view_names_the_method_the_settings_resolve_to(
    engine_database_url: str, env: dict[str, str], method: str
) -> None:
    async with client_for(settings_for(engine_database_url, **env)) as c:
        body = (await c.get("/v1/admin/storage", headers=auth())).json()
    assert body["compression"] == method


async def test_native_compression_on_a_server_without_the_licence_fails_readiness(engine_database_url: str) -> None:
    settings = settings_for(engine_database_url, compression="native", compress_after_days="2")
    async with client_for(settings) as c:
        ready = await c.get("/health/ready")
        storage = await c.get("/v1/admin/storage", headers=auth())
    assert ready.status_code == 503
    detail = ready.json()["checks"]["timeseries"]["detail"]
    assert "SENSORHUB_COMPRESSION=native" in detail and "timescaledb.license" in detail
    assert storage.status_code == 503
