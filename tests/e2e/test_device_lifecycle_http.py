"""Reactivate a decommissioned device; delete (forget) a device: gone from every read and list,
its name free at its site, its readings deleted, further readings for it rejected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from tests.projections.support import project_everything
from tests.support.app import auth


def device(device_id: str, name: str = "Boiler", site: str = "site-a") -> dict[str, Any]:
    return {
        "device_id": device_id,
        "name": name,
        "site": site,
        "kind": "thermo",
        "metrics": [{"name": "t", "unit": "C"}],
    }


def readings(device_id: str, count: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return {
        "readings": [
            {"device_id": device_id, "metric": "t", "time": (start + timedelta(seconds=i)).isoformat(), "value": i}
            for i in range(count)
        ]
    }


async def test_reactivate_a_decommissioned_device(client: AsyncTestClient[Any]) -> None:
    assert (await client.post("/v1/devices", json=device("dev-1"), headers=auth())).status_code == 201
    active = await client.post("/v1/devices/dev-1/reactivate", headers=auth())
    assert active.status_code == 409
    assert "only a decommissioned device" in active.json()["detail"]
    assert (await client.post("/v1/devices/dev-1/decommission", headers=auth())).status_code == 200
    stale = await client.post("/v1/devices/dev-1/reactivate", headers={**auth(), "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    back = await client.post(
        "/v1/devices/dev-1/reactivate", headers={**auth(), "If-Match": '"2"', "Idempotency-Key": "re-1"}
    )
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "active"
    assert back.headers["etag"] == '"3"'
    replay = await client.post(
        "/v1/devices/dev-1/reactivate", headers={**auth(), "If-Match": '"2"', "Idempotency-Key": "re-1"}
    )
    assert replay.headers["idempotent-replayed"] == "true"
    ingest = await client.post("/v1/readings", json=readings("dev-1", 1), headers=auth())
    assert ingest.json()["accepted"] == 1
    assert (await client.patch("/v1/devices/dev-1", json={"name": "Kettle"}, headers=auth())).status_code == 200


async def test_reactivation_is_refused_while_another_device_holds_its_name(client: AsyncTestClient[Any]) -> None:
    assert (await client.post("/v1/devices", json=device("dev-1"), headers=auth())).status_code == 201
    assert (await client.post("/v1/devices/dev-1/decommission", headers=auth())).status_code == 200
    # A decommissioned device releases its name: another device takes it.
    assert (await client.post("/v1/devices", json=device("dev-2"), headers=auth())).status_code == 201
    refused = await client.post("/v1/devices/dev-1/reactivate", headers=auth())
    assert refused.status_code == 409
    assert "by device 'dev-2'" in refused.json()["detail"]
    assert (await client.patch("/v1/devices/dev-2", json={"name": "Other"}, headers=auth())).status_code == 200
    assert (await client.post("/v1/devices/dev-1/reactivate", headers=auth())).status_code == 200


async def test_a_deleted_device_is_forgotten(client: AsyncTestClient[Any], database_url: str) -> None:
    for body in (device("dev-1"), device("dev-2", "Kettle")):
        assert (await client.post("/v1/devices", json=body, headers=auth())).status_code == 201
    for device_id in ("dev-1", "dev-2"):
        ingest = await client.post("/v1/readings", json=readings(device_id, 50), headers=auth())
        assert ingest.json()["accepted"] == 50
    await project_everything(database_url)

    stale = await client.delete("/v1/devices/dev-1", headers={**auth(), "If-Match": '"7"'})
    assert stale.status_code == 412
    gone = await client.delete("/v1/devices/dev-1", headers={**auth(), "If-Match": '"1"'})
    assert gone.status_code == 204, gone.text
    assert gone.content == b""
    assert gone.headers["etag"] == '"2"'
    position = gone.headers["x-position"]
    await project_everything(database_url)

    now = datetime.now(UTC)
    window = f"from={(now - timedelta(days=1)).isoformat()}&to={now.isoformat()}".replace("+", "%2B")
    for path in (
        "/v1/devices/dev-1",
        "/v1/devices/dev-1?version=1",
        "/v1/devices/dev-1/events",
        "/v1/devices/dev-1/latest",
        f"/v1/devices/dev-1/readings?metric=t&{window}",
        f"/v1/devices/dev-1/readings/export?{window}",
    ):
        answer = await client.get(path, headers=auth())
        assert answer.status_code == 404, (path, answer.text)
    for method, path in (
        ("DELETE", "/v1/devices/dev-1"),
        ("PATCH", "/v1/devices/dev-1"),
        ("POST", "/v1/devices/dev-1/reactivate"),
        ("POST", "/v1/devices/dev-1/decommission"),
    ):
        body = {"name": "x"} if method == "PATCH" else None
        answer = await client.request(method, path, json=body, headers=auth())
        assert answer.status_code == 404, (method, path, answer.text)
    listed = (await client.get(f"/v1/devices?min_position={position}", headers=auth())).json()
    assert [d["device_id"] for d in listed["items"]] == ["dev-2"]

    refused = await client.post("/v1/readings", json=readings("dev-1", 1), headers=auth())
    assert refused.json()["rejected"][0]["reason"] == "unknown_device"
    # The id stays taken (its history is in the event store); the name is free at the site.
    again = await client.post("/v1/devices", json=device("dev-1"), headers=auth())
    assert again.status_code == 409
    assert "belonged to a deleted device" in again.json()["detail"]
    assert (await client.post("/v1/devices", json=device("dev-3"), headers=auth())).status_code == 201

    conn = await asyncpg.connect(database_url)
    try:
        for table in ("readings", "latest_readings", "rollup_dirty"):
            left = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE device_id = 'dev-1'")
            kept = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE device_id = 'dev-2'")
            assert (table, left) == (table, 0)
            assert kept > 0, table
    finally:
        await conn.close()


async def test_a_replayed_registration_answers_as_the_first_even_after_a_delete(client: AsyncTestClient[Any]) -> None:
    keyed = {**auth(), "Idempotency-Key": "register-dev-9"}
    first = await client.post("/v1/devices", json=device("dev-9"), headers=keyed)
    assert first.status_code == 201, first.text
    assert (await client.delete("/v1/devices/dev-9", headers=auth())).status_code == 204

    replay = await client.post("/v1/devices", json=device("dev-9"), headers=keyed)
    assert (replay.status_code, replay.headers["idempotent-replayed"]) == (201, "true")
    assert replay.content == first.content
    assert (await client.get("/v1/devices/dev-9", headers=auth())).status_code == 404
    fresh = await client.post("/v1/devices", json=device("dev-9"), headers={**auth(), "Idempotency-Key": "other"})
    assert fresh.status_code == 409
    assert "belonged to a deleted device" in fresh.json()["detail"]
