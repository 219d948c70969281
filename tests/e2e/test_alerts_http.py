"""Alert commands through HTTP; alerts are raised the way ingest raises them (application handler)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from sensorhub.application.alerts import auto_resolve_alert, raise_alert
from sensorhub.domain.alert_commands import AutoResolveAlert, RaiseAlert
from sensorhub.domain.values import Bounds
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work

from tests.support.app import auth

RAISED_AT = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


async def raise_one(pool: asyncpg.Pool, alert_id: str = "al-1") -> None:
    command = RaiseAlert(alert_id, "dev-1", "temperature", "critical", 97.5, Bounds(None, 90.0), RAISED_AT)
    async with pool.acquire() as conn, conn.transaction():  # ingest's own transaction
        async with postgres_unit_of_work(conn, build_registry()) as uow:
            await raise_alert(command, uow)
            await raise_alert(command, uow)  # a repeat (ingest retry) writes nothing


async def test_get_acknowledge_and_resolve_an_alert(client: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    await raise_one(pool)
    got = await client.get("/v1/alerts/al-1", headers=auth())
    assert got.status_code == 200
    body = got.json()
    assert got.headers["etag"] == '"1"'
    assert (body["status"], body["severity"], body["trigger_value"]) == ("open", "critical", 97.5)
    assert body["threshold"] == {"min": None, "max": 90.0}
    assert datetime.fromisoformat(body["raised_at"]) == RAISED_AT

    stale = await client.post("/v1/alerts/al-1/acknowledge", json={"by": "ops"}, headers={**auth(), "If-Match": '"5"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 1
    ack = await client.post("/v1/alerts/al-1/acknowledge", json={"by": "ops", "note": "on it"}, headers=auth())
    assert ack.status_code == 200
    assert (ack.json()["status"], ack.json()["acknowledged_by"], ack.headers["etag"]) == ("acknowledged", "ops", '"2"')
    assert int(ack.headers["x-position"]) == ack.json()["position"]
    again = await client.post("/v1/alerts/al-1/acknowledge", json={"by": "ops"}, headers=auth())
    assert again.status_code == 409

    resolved = await client.post("/v1/alerts/al-1/resolve", json={}, headers=auth())
    assert resolved.status_code == 200
    assert (resolved.json()["status"], resolved.json()["resolution"]) == ("resolved", "manual")
    assert (await client.post("/v1/alerts/al-1/resolve", json={"by": "x"}, headers=auth())).status_code == 409


async def test_alert_errors(client: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    assert (await client.get("/v1/alerts/nope", headers=auth())).status_code == 404
    assert (await client.post("/v1/alerts/nope/resolve", json={}, headers=auth())).status_code == 404
    await raise_one(pool)
    unknown = await client.post("/v1/alerts/al-1/acknowledge", json={"by": "x", "urgent": True}, headers=auth())
    assert unknown.status_code == 422
    missing_by = await client.post("/v1/alerts/al-1/acknowledge", json={}, headers=auth())
    assert missing_by.status_code == 422


async def test_auto_resolve_from_ingest_shows_over_http(client: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    await raise_one(pool)
    async with postgres_unit_of_work(pool, build_registry()) as uow:
        result = await auto_resolve_alert(AutoResolveAlert("al-1", 80.0, RAISED_AT.replace(minute=45)), uow)
    assert result.appended == 1
    body = (await client.get("/v1/alerts/al-1", headers=auth())).json()
    assert (body["status"], body["resolution"], body["version"]) == ("resolved", "auto", 2)


async def test_a_device_id_is_no_alert(client: AsyncTestClient[Any]) -> None:
    """Devices and alerts share one id space in the event store (found by schemathesis: a 500)."""
    device = {"device_id": "0", "name": "n", "site": "s", "kind": "k", "metrics": [{"name": "t", "unit": "C"}]}
    assert (await client.post("/v1/devices", json=device, headers=auth())).status_code == 201
    assert (await client.get("/v1/alerts/0", headers=auth())).status_code == 404
    assert (await client.post("/v1/alerts/0/acknowledge", json={"by": "x"}, headers=auth())).status_code == 404
    assert (await client.post("/v1/alerts/0/resolve", json={}, headers=auth())).status_code == 404
