"""Stored shapes evolve through upcasters; snapshots are a cache that never changes what is loaded."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from sensorhub.application import devices
from sensorhub.application.stored_events import Snapshot
from sensorhub.domain.device_commands import SetThreshold, UpdateDevice
from sensorhub.domain.device_events import ThresholdSet
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work

from tests.unit.domain.factories import register

REGISTRY = build_registry()


async def _insert_raw_v1(pool: asyncpg.Pool, device_id: str, version: int, limit: float, direction: str) -> None:
    # Written the way an old release did: through the append function, with a v1 payload.
    payload = {"device_id": device_id, "metric": "temperature", "limit": limit, "direction": direction}
    await pool.execute(
        "SELECT * FROM eventstore_append($1, 'Device', $2, ARRAY[$3::uuid], ARRAY['ThresholdSet'], ARRAY[1],"
        " ARRAY[$4::text::jsonb], ARRAY['{}'::jsonb])",
        device_id,
        str(version),
        uuid.uuid4(),
        json.dumps(payload),
    )


async def test_raw_threshold_set_v1_rows_read_back_as_v2(pool: asyncpg.Pool) -> None:
    async with postgres_unit_of_work(pool, REGISTRY) as uow:
        await devices.register_device(register("dev-1"), uow)
    await _insert_raw_v1(pool, "dev-1", 1, 90.0, "above")
    await _insert_raw_v1(pool, "dev-1", 2, -5.0, "below")

    records = await PostgresEventStore(pool).read_stream("dev-1", from_version=2)
    assert [(r.type, r.schema_version) for r in records] == [("ThresholdSet", 1), ("ThresholdSet", 1)]
    upcast = [REGISTRY.upcast_record(r) for r in records]
    assert [r.schema_version for r in upcast] == [2, 2]
    assert upcast[0].data == {
        "device_id": "dev-1",
        "metric": "temperature",
        "min": None,
        "max": 90.0,
        "severity": "warning",
    }
    assert REGISTRY.decode_record(records[1]) == ThresholdSet("dev-1", "temperature", -5.0, None, "warning")

    async with postgres_unit_of_work(pool, REGISTRY) as uow:
        device = await uow.devices.get("dev-1")
    threshold = device.state.threshold("temperature")
    assert threshold is not None
    assert (threshold.min, threshold.max, threshold.severity) == (-5.0, None, "warning")


def test_an_unknown_v1_direction_is_refused_loudly() -> None:
    with pytest.raises(ValueError, match="direction"):
        REGISTRY.upcast("ThresholdSet", 1, {"metric": "t", "limit": 1.0, "direction": "sideways"})


async def test_snapshots_are_written_every_n_events_and_loading_uses_them(pool: asyncpg.Pool) -> None:
    every = {"Device": 3}
    async with postgres_unit_of_work(pool, REGISTRY, snapshot_every=every) as uow:
        await devices.register_device(register("dev-1"), uow)
    for i in range(7):
        async with postgres_unit_of_work(pool, REGISTRY, snapshot_every=every) as uow:
            await devices.set_threshold(SetThreshold("dev-1", "temperature", None, 50.0 + i, "info"), uow)
    snapshot = await PostgresEventStore(pool).load_snapshot("dev-1", 1)
    assert snapshot is not None
    assert snapshot.stream_version == 6

    async with postgres_unit_of_work(pool, REGISTRY, snapshot_every=every) as uow:
        with_snapshot = await uow.devices.get("dev-1")
    async with postgres_unit_of_work(pool, REGISTRY) as uow:
        without = await uow.devices.get("dev-1")
    assert with_snapshot.state == without.state
    assert with_snapshot.version == without.version == 8
    assert with_snapshot.position == without.position


async def test_a_snapshot_of_another_schema_version_is_ignored(pool: asyncpg.Pool) -> None:
    every = {"Device": 100}
    async with postgres_unit_of_work(pool, REGISTRY, snapshot_every=every) as uow:
        await devices.register_device(register("dev-1"), uow)
    # Garbage under an older and a newer schema version: neither may be misread.
    store = PostgresEventStore(pool)
    for version in (0, 2):
        await store.save_snapshot(Snapshot("dev-1", "Device", version, 1, 1, {"not": "a device"}))
    async with postgres_unit_of_work(pool, REGISTRY, snapshot_every=every) as uow:
        await devices.update_device(UpdateDevice("dev-1", name="Renamed"), uow)
    async with postgres_unit_of_work(pool, REGISTRY, snapshot_every=every) as uow:
        device = await uow.devices.get("dev-1")
    assert (device.state.name, device.version) == ("Renamed", 2)
