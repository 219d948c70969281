"""Migration 0008 gives the device events stored before tags existed the same name tags the
Device aggregate writes now, so the name rule sees devices registered before it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sensorhub import migrations
from sensorhub.application import devices as handlers
from sensorhub.application.commands import execute
from sensorhub.db import connect
from sensorhub.domain.device import Device, DeviceState
from sensorhub.domain.device_commands import RegisterDevice
from sensorhub.domain.errors import DeviceNameTaken
from sensorhub.domain.values import Metric
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work

REGISTERED = {"kind": "pump", "metrics": [{"name": "p", "unit": "bar"}]}
HISTORY: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "old-1": [
        ("DeviceRegistered", {"name": "Pump", "site": "plant/1", **REGISTERED}),
        ("ThresholdCleared", {"metric": "p"}),
        ("DeviceRenamed", {"name": "Pump: 2"}),
        ("DeviceMoved", {"site": "plant-2"}),
        ("DeviceDecommissioned", {}),
    ],
    "old-2": [
        ("DeviceRegistered", {"name": "Pump", "site": "plant/1", **REGISTERED}),  # after old-1 left it
        ("DeviceMoved", {"site": "plant-3"}),
        ("DeviceMoved", {"site": "plant/1"}),
    ],
}


def expected_tags() -> set[tuple[str, str, str, int]]:
    """(stream, type, tag, version) as the aggregate tags the same events today."""
    registry = build_registry()
    found: set[tuple[str, str, str, int]] = set()
    for stream, events in HISTORY.items():
        state: DeviceState | None = None
        for version, (type_, data) in enumerate(events, start=1):
            event = registry.decode_json(type_, 1, json.dumps({"device_id": stream, **data}))
            after = Device.evolve(state, event)
            found |= {(stream, type_, tag, version) for tag in Device.tags_of(state, after, event)}
            state = after
    return found


async def forget_tags(conn: Any) -> None:
    """Back to a database migrated before 0008: the events stay, the tags go, 0008 on is pending."""
    await conn.execute("DROP TABLE event_tags; DELETE FROM schema_migrations WHERE version >= 8")


async def test_the_backfill_tags_old_events_as_the_aggregate_does(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        for stream, events in HISTORY.items():
            await conn.execute("INSERT INTO streams VALUES ($1, 'Device', $2)", stream, len(events))
            for version, (type_, data) in enumerate(events, start=1):
                await conn.execute(
                    "INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data)"
                    " VALUES ($1, $2, $3, $4, 1, $5)",
                    uuid.uuid4(),
                    stream,
                    version,
                    type_,
                    {"device_id": stream, **data},
                )
        await forget_tags(conn)
        assert [m.version for m in await migrations.apply(conn)] == [
            m.version for m in migrations.available() if m.version >= 8
        ]
        rows = await conn.fetch(
            "SELECT e.stream_id, t.type, t.tag, e.stream_version FROM event_tags t JOIN events e USING (position)"
        )
        assert {tuple(r) for r in rows} == expected_tags()
        assert len(rows) == len(expected_tags())
    finally:
        await conn.close()


async def test_a_device_registered_before_tags_still_holds_its_name(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        await conn.execute("INSERT INTO streams VALUES ('old-1', 'Device', 1)")
        await conn.execute(
            "INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data)"
            " VALUES ($1, 'old-1', 1, 'DeviceRegistered', 1, $2)",
            uuid.uuid4(),
            {"device_id": "old-1", "name": "Pump", "site": "plant-1", **REGISTERED},
        )
        await forget_tags(conn)
        await migrations.apply(conn)
        codec = build_registry()
        command = RegisterDevice("new-1", "Pump", "plant-1", "pump", (Metric("p", "bar"),))
        with pytest.raises(DeviceNameTaken, match="by device 'old-1'"):
            await execute(handlers.register_device, command, lambda: postgres_unit_of_work(conn, codec))
    finally:
        await conn.close()
