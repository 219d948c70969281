"""The read API end to end: read-your-writes, X-Stale, lists, rebuild under load, admin endpoints."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.projections.support import append_history, assert_equals_scratch, running_projector, wait_caught_up
from tests.support.app import auth, client_for, settings_for

DEVICE = {
    "device_id": "d-1",
    "name": "Boiler",
    "site": "plant-a",
    "kind": "thermo",
    "metrics": [{"name": "temperature", "unit": "C"}, {"name": "pressure", "unit": "bar"}],
}


async def test_read_your_writes_with_the_command_position(database_url: str, redis_url: str) -> None:
    async with client_for(settings_for(database_url, redis_url)) as client, running_projector(database_url):
        created = await client.post("/v1/devices", json=DEVICE, headers=auth())
        assert created.status_code == 201, created.text
        position = created.headers["x-position"]
        got = await client.get(f"/v1/devices/d-1?min_position={position}", headers=auth())
        assert got.status_code == 200 and "x-stale" not in got.headers
        assert got.json()["open_alerts"] == 0 and got.json()["name"] == "Boiler"
        renamed = await client.patch("/v1/devices/d-1", json={"name": "Kettle"}, headers=auth())
        threshold = await client.put(
            "/v1/devices/d-1/thresholds/pressure", json={"max": 3, "severity": "critical"}, headers=auth()
        )
        assert renamed.status_code == threshold.status_code == 200
        position = threshold.headers["x-position"]
        got = await client.get("/v1/devices/d-1", headers={**auth(), "X-Min-Position": position})
        body = got.json()
        assert (body["name"], body["version"], got.headers["etag"]) == ("Kettle", 3, '"3"')
        assert body["thresholds"] == [{"metric": "pressure", "min": None, "max": 3.0, "severity": "critical"}]
        listed = await client.get(f"/v1/devices?site=plant-a&min_position={position}", headers=auth())
        assert [d["name"] for d in listed.json()["items"]] == ["Kettle"]


async def test_a_read_that_cannot_reach_its_position_answers_stale(database_url: str) -> None:
    settings = settings_for(database_url, read_wait_timeout_s="0.3")
    async with client_for(settings) as client:  # no projector running
        created = await client.post("/v1/devices", json=DEVICE, headers=auth())
        position = created.headers["x-position"]
        listed = await client.get(f"/v1/devices?min_position={position}", headers=auth())
        assert listed.status_code == 200 and listed.headers["x-stale"] == "true"
        assert listed.json() == {"items": [], "next_cursor": None}
        # the detail falls back to the event store when the read model does not have it yet
        detail = await client.get("/v1/devices/d-1", headers=auth())
        assert detail.status_code == 200 and detail.json()["name"] == "Boiler"
        not_yet = await client.get("/v1/devices?min_position=999999", headers=auth())  # no such event (yet)
        assert not_yet.status_code == 200 and not_yet.headers["x-stale"] == "true"


async def test_lists_filter_and_paginate(pool: asyncpg.Pool, database_url: str, redis_url: str) -> None:
    async with pool.acquire() as conn:
        await append_history(conn, 1, 30)
    async with client_for(settings_for(database_url, redis_url)) as client, running_projector(database_url):
        async with pool.acquire() as conn:
            await wait_caught_up(conn)
        seen: list[str] = []
        cursor: str | None = None
        while True:
            query = f"/v1/devices?kind=thermo&limit=4{'&cursor=' + cursor if cursor else ''}"
            page = (await client.get(query, headers=auth())).json()
            seen += [d["device_id"] for d in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert seen == sorted(f"dev-{i}" for i in range(2, 31, 2))
        alerts = (await client.get("/v1/alerts?status=acknowledged&severity=info&limit=1000", headers=auth())).json()
        expected = {f"alert-{i}" for i in range(1, 31) if i % 2 and i % 3 == 0}
        assert {a["alert_id"] for a in alerts["items"]} == expected
        by_site = (await client.get("/v1/alerts?site=site-0", headers=auth())).json()["items"]
        assert {a["device_id"] for a in by_site} == {f"dev-{i}" for i in range(5, 31, 5)}
        bad = await client.get("/v1/devices?cursor=nonsense", headers=auth())
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
        history = await client.get(
            "/v1/alerts/history?device_id=dev-6&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", headers=auth()
        )
        assert [t["transition"] for t in history.json()["items"]] == ["raised", "acknowledged", "auto_resolved"]
        buckets = await client.get(
            "/v1/alerts/history?from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&bucket=1d", headers=auth()
        )
        assert [b["raised"] for b in buckets.json()["items"]] == [3, 3]
        listing = (await client.get("/v1/projections", headers=auth())).json()
        assert {p["name"]: p["lag_events"] for p in listing["items"]} == {"alert_history": 0, "registry": 0}
        assert (await client.post("/v1/projections/nope/rebuild", headers=auth())).status_code == 404


async def test_a_rebuild_under_writes_and_reads_ends_equal_to_a_fresh_rebuild(
    pool: asyncpg.Pool, database_url: str, redis_url: str
) -> None:
    async with pool.acquire() as conn:
        await append_history(conn, 1, 400)
    failures: list[Any] = []
    reads = 0
    stop = asyncio.Event()
    async with client_for(settings_for(database_url, redis_url)) as client, running_projector(database_url):

        async def writer() -> None:
            n = 401
            async with pool.acquire() as conn:
                while not stop.is_set():
                    await append_history(conn, n, n + 9)
                    n += 10

        async def reader() -> None:
            nonlocal reads
            while not stop.is_set():
                for path in ("/v1/devices?limit=20", "/v1/alerts?limit=20", "/v1/devices/dev-7", "/v1/alerts/alert-7"):
                    response = await client.get(path, headers=auth())
                    reads += 1
                    if response.status_code != 200:
                        failures.append((path, response.status_code, response.text))
                    await asyncio.sleep(0.005)  # the test client blocks this loop during a request

        tasks = [asyncio.create_task(writer()), asyncio.create_task(reader())]
        accepted = await client.post("/v1/projections/registry/rebuild", headers=auth())
        assert accepted.status_code == 202
        async with pool.acquire() as conn:
            for _ in range(600):
                if await conn.fetchval("SELECT live_generation FROM projections WHERE name = 'registry'") == 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            stop.set()
            await asyncio.gather(*tasks)
            await wait_caught_up(conn)
            assert await conn.fetchval("SELECT live_generation FROM projections WHERE name = 'registry'") == 2
            await assert_equals_scratch(conn, "registry")
    assert not failures, failures[:3]
    assert reads > 20
