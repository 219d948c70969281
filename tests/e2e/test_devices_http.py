"""Device commands, event-sourced reads and the event feed through HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient

from tests.support.app import auth

DEVICE = {
    "device_id": "dev-1",
    "name": "Boiler room",
    "site": "site-a",
    "kind": "thermometer",
    "metrics": [{"name": "temperature", "unit": "C"}, {"name": "humidity", "unit": "%"}],
}


async def register(client: AsyncTestClient[Any], body: dict[str, Any] | None = None) -> Any:
    response = await client.post("/v1/devices", json=body or DEVICE, headers=auth())
    assert response.status_code == 201, response.text
    return response


async def test_register_returns_201_location_etag_and_position(client: AsyncTestClient[Any]) -> None:
    response = await register(client)
    body = response.json()
    assert response.headers["location"] == "/v1/devices/dev-1"
    assert response.headers["etag"] == '"1"'
    assert int(response.headers["x-position"]) == body["position"] > 0
    assert body["status"] == "active"
    assert body["version"] == 1
    assert body["metrics"] == DEVICE["metrics"]

    got = await client.get("/v1/devices/dev-1", headers=auth())
    assert got.status_code == 200
    assert got.headers["etag"] == '"1"'
    assert got.json()["name"] == "Boiler room"

    again = await client.post("/v1/devices", json=DEVICE, headers=auth())
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_a_device_id_is_generated_when_absent(client: AsyncTestClient[Any]) -> None:
    response = await register(client, {k: v for k, v in DEVICE.items() if k != "device_id"})
    device_id = response.json()["device_id"]
    assert response.headers["location"] == f"/v1/devices/{device_id}"


async def test_invalid_commands_get_422_and_missing_devices_404(client: AsyncTestClient[Any]) -> None:
    unknown_field = await client.post("/v1/devices", json={**DEVICE, "colour": "red"}, headers=auth())
    assert unknown_field.status_code == 422
    await register(client)
    for body, words in (
        ({"severity": "warning"}, "at least one bound"),
        ({"min": 5, "max": 1, "severity": "warning"}, "less than"),
        ({"max": 5, "severity": "fatal"}, "severity"),
        ({"max": 5, "severity": "info", "limit": 3}, ""),
    ):
        response = await client.put("/v1/devices/dev-1/thresholds/temperature", json=body, headers=auth())
        assert response.status_code == 422, body
        assert words in response.json()["detail"]
    unknown_metric = await client.put(
        "/v1/devices/dev-1/thresholds/pressure", json={"max": 1, "severity": "info"}, headers=auth()
    )
    assert unknown_metric.status_code == 422
    assert "temperature, humidity" in unknown_metric.json()["detail"]
    assert (await client.get("/v1/devices/nope", headers=auth())).status_code == 404
    assert (await client.patch("/v1/devices/nope", json={"name": "x"}, headers=auth())).status_code == 404


async def test_if_match_mismatch_is_412_with_the_current_version(client: AsyncTestClient[Any]) -> None:
    await register(client)
    stale = await client.patch("/v1/devices/dev-1", json={"name": "A"}, headers={**auth(), "If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 1
    assert stale.headers["etag"] == '"1"'
    ok = await client.patch("/v1/devices/dev-1", json={"name": "A", "site": "b"}, headers={**auth(), "If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"3"'
    assert (ok.json()["name"], ok.json()["site"], ok.json()["version"]) == ("A", "b", 3)
    bad = await client.patch("/v1/devices/dev-1", json={"name": "B"}, headers={**auth(), "If-Match": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "If-Match"


async def test_thresholds_and_decommission(client: AsyncTestClient[Any]) -> None:
    await register(client)
    put = await client.put(
        "/v1/devices/dev-1/thresholds/temperature", json={"min": 0, "max": 90, "severity": "critical"}, headers=auth()
    )
    assert put.status_code == 200
    assert put.json()["thresholds"] == [{"metric": "temperature", "min": 0.0, "max": 90.0, "severity": "critical"}]
    cleared = await client.delete("/v1/devices/dev-1/thresholds/temperature", headers=auth())
    assert cleared.status_code == 200
    assert cleared.json()["thresholds"] == []
    assert int(cleared.headers["x-position"]) > int(put.headers["x-position"])

    gone = await client.post("/v1/devices/dev-1/decommission", headers=auth())
    assert gone.status_code == 200
    assert gone.json()["status"] == "decommissioned"
    for response in (
        await client.post("/v1/devices/dev-1/decommission", headers=auth()),
        await client.patch("/v1/devices/dev-1", json={"name": "x"}, headers=auth()),
        await client.put(
            "/v1/devices/dev-1/thresholds/temperature", json={"max": 1, "severity": "info"}, headers=auth()
        ),
    ):
        assert response.status_code == 409
        assert "decommissioned" in response.json()["detail"]


async def test_idempotency_key_replays_the_first_response(client: AsyncTestClient[Any]) -> None:
    headers = {**auth(), "Idempotency-Key": "create-dev-1"}
    first = await client.post("/v1/devices", json=DEVICE, headers=headers)
    second = await client.post("/v1/devices", json=DEVICE, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert first.headers["x-position"] == second.headers["x-position"]
    assert second.headers["location"] == "/v1/devices/dev-1"
    different = await client.post("/v1/devices", json={**DEVICE, "name": "Other"}, headers=headers)
    assert different.status_code == 422
    events = await client.get("/v1/devices/dev-1/events", headers=auth())
    assert len(events.json()["items"]) == 1


async def test_device_stream_and_global_feed(client: AsyncTestClient[Any]) -> None:
    await register(client)
    await register(client, {**DEVICE, "device_id": "dev-2", "name": "Boiler room 2"})
    for i in range(3):
        await client.patch("/v1/devices/dev-1", json={"name": f"n{i}"}, headers=auth())

    stream = (await client.get("/v1/devices/dev-1/events", headers=auth())).json()
    assert [e["stream_version"] for e in stream["items"]] == [1, 2, 3, 4]
    assert stream["items"][0]["type"] == "DeviceRegistered"
    assert stream["items"][0]["metadata"]["actor"]
    assert set(stream["items"][0]) >= {"event_id", "type", "schema_version", "position", "recorded_at", "data"}
    page = (await client.get("/v1/devices/dev-1/events?from_version=2&limit=2", headers=auth())).json()
    assert [e["stream_version"] for e in page["items"]] == [2, 3]
    assert page["next_cursor"] == "4"

    async def feed(query: str) -> dict[str, Any]:
        for _ in range(100):  # the feed shows an event once no older transaction is still open
            response = await client.get(f"/v1/events?{query}", headers=auth())
            assert response.status_code == 200
            body = response.json()
            if len(body["items"]) >= 5 or "type" in query or "after" in query:
                return dict(body)
            await asyncio.sleep(0.05)
        raise AssertionError("the feed did not catch up")

    everything = await feed("limit=100")
    assert len(everything["items"]) == 5
    registered = await feed("type=DeviceRegistered")
    assert [e["stream_id"] for e in registered["items"]] == ["dev-1", "dev-2"]
    after = everything["items"][1]["position"]
    rest = await feed(f"after={after}&limit=2")
    assert [e["event_id"] for e in rest["items"]] == [e["event_id"] for e in everything["items"][2:4]]
    assert rest["next_cursor"] == str(rest["items"][-1]["position"])
    assert (await client.get("/v1/events?after=999999", headers=auth())).status_code == 404


async def test_time_travel_by_version_and_time(client: AsyncTestClient[Any]) -> None:
    await register(client)
    between = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await client.patch("/v1/devices/dev-1", json={"name": "Renamed"}, headers=auth())

    v1 = await client.get("/v1/devices/dev-1?version=1", headers=auth())
    assert (v1.status_code, v1.json()["name"], v1.json()["version"]) == (200, "Boiler room", 1)
    assert v1.headers["etag"] == '"1"'
    then = await client.get("/v1/devices/dev-1", params={"at": between.isoformat()}, headers=auth())
    assert (then.json()["name"], then.json()["version"]) == ("Boiler room", 1)
    now = await client.get("/v1/devices/dev-1", headers=auth())
    assert (now.json()["name"], now.json()["version"]) == ("Renamed", 2)
    before = await client.get("/v1/devices/dev-1", params={"at": "2000-01-01T00:00:00Z"}, headers=auth())
    assert before.status_code == 404
    both = await client.get("/v1/devices/dev-1?version=1&at=2000-01-01T00:00:00Z", headers=auth())
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "at"


async def test_reads_need_read_and_commands_need_write(client: AsyncTestClient[Any]) -> None:
    created = await client.post("/v1/keys", json={"name": "r", "scopes": ["read"]}, headers=auth())
    reader = auth(created.json()["secret"])
    await register(client)
    assert (await client.get("/v1/devices/dev-1", headers=reader)).status_code == 200
    assert (await client.get("/v1/events", headers=reader)).status_code == 200
    assert (await client.post("/v1/devices", json=DEVICE, headers=reader)).status_code == 403
    assert (await client.post("/v1/devices/dev-1/decommission", headers=reader)).status_code == 403
    assert (await client.get("/v1/devices/dev-1")).status_code == 401
