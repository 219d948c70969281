"""Readings through the real app (in-process), on every engine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.projections.support import project_everything, running_projector, wait_caught_up
from tests.support.app import auth, client_for, settings_for

DEVICE = {
    "device_id": "boiler-1",
    "name": "Boiler",
    "site": "plant-a",
    "kind": "thermometer",
    "metrics": [{"name": "temperature", "unit": "C"}, {"name": "pressure", "unit": "bar"}],
}


@pytest.fixture
async def client(engine_database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    async with client_for(settings_for(engine_database_url)) as c:
        yield c


def _hour_ago() -> datetime:
    now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


async def _device(client: AsyncTestClient[Any]) -> None:
    assert (await client.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
    put = await client.put(
        "/v1/devices/boiler-1/thresholds/temperature", json={"max": 80, "severity": "critical"}, headers=auth()
    )
    assert put.status_code == 200, put.text


async def test_ingest_in_three_formats_then_query_latest_and_summary(
    client: AsyncTestClient[Any], engine: str, engine_database_url: str
) -> None:
    await _device(client)
    t0 = _hour_ago()
    ready = (await client.get("/health/ready")).json()
    assert ready["checks"]["timeseries"]["detail"].startswith(engine)

    body = {
        "readings": [
            {
                "device_id": "boiler-1",
                "metric": "temperature",
                "time": (t0 + timedelta(minutes=i)).isoformat(),
                "value": 60.0 + i,
            }
            for i in range(10)
        ]
    }
    body["readings"].append({"device_id": "ghost", "metric": "temperature", "time": t0.isoformat(), "value": 1})
    got = await client.post("/v1/readings", json=body, headers=auth())
    assert got.status_code == 200, got.text
    assert got.json() | {"rejected": None} == {
        "accepted": 10,
        "duplicates": 0,
        "rejected": None,
        "alerts_raised": 0,
        "alerts_resolved": 0,
    }
    assert got.json()["rejected"][0]["index"] == 10
    assert got.json()["rejected"][0]["reason"] == "unknown_device"

    ndjson = "\n".join(
        json.dumps(
            {
                "device_id": "boiler-1",
                "metric": "temperature",
                "time": (t0 + timedelta(minutes=m)).isoformat(),
                "value": v,
            }
        )
        for m, v in ((9, 0.0), (20, 95.0), (21, 96.0))
    )
    got = await client.post("/v1/readings", content=ndjson, headers={**auth(), "content-type": "application/x-ndjson"})
    assert (got.json()["accepted"], got.json()["duplicates"], got.json()["alerts_raised"]) == (2, 1, 1)

    csv_body = (
        "device_id,metric,time,value\n"
        + "".join(
            f"boiler-1,pressure,{(t0 + timedelta(minutes=m)).isoformat()},{v}\n" for m, v in ((0, 1.5), (30, 2.5))
        )
        + f"boiler-1,pressure,{t0.isoformat()},inf\n"
    )
    got = await client.post("/v1/readings", content=csv_body, headers={**auth(), "content-type": "text/csv"})
    assert got.json()["accepted"] == 2
    assert got.json()["rejected"] == [
        {"index": 2, "reason": "non_finite_value", "detail": "value must be a finite number, got 'inf'"}
    ]

    params = {"metric": "temperature", "from": t0.isoformat(), "to": (t0 + timedelta(hours=1)).isoformat()}
    raw = (await client.get("/v1/devices/boiler-1/readings", params=params, headers=auth())).json()
    assert raw["bucket"] is None
    assert [i["value"] for i in raw["items"]] == [60.0 + i for i in range(10)] + [95.0, 96.0]

    bucketed = await client.get(
        "/v1/devices/boiler-1/readings",
        params={**params, "bucket": "10m", "agg": "count,max,last", "fill": "null"},
        headers=auth(),
    )
    items = bucketed.json()["items"]
    assert [(i["count"], i["max"]) for i in items] == [
        (10, 69.0),
        (0, None),
        (2, 96.0),
        (0, None),
        (0, None),
        (0, None),
    ]

    latest = (await client.get("/v1/devices/boiler-1/latest", headers=auth())).json()
    assert [(i["metric"], i["value"]) for i in latest["items"]] == [("pressure", 2.5), ("temperature", 96.0)]

    await project_everything(engine_database_url)
    times = [t0 + timedelta(minutes=m) for m in (*range(10), 20, 21, 0, 30)]  # the 14 accepted readings
    before = datetime.now(UTC)
    summary = (await client.get("/v1/sites/plant-a/summary", headers=auth())).json()
    after = datetime.now(UTC)
    assert summary["devices"] == summary["active"] == 1
    assert summary["open_alerts"] == {"info": 0, "warning": 0, "critical": 1}
    # "the last hour" is the server's: between what it was just before and just after the request
    assert (
        sum(t >= after - timedelta(hours=1) for t in times)
        <= summary["readings_last_hour"]
        <= sum(t >= before - timedelta(hours=1) for t in times)
    )


async def test_query_errors_are_clear(client: AsyncTestClient[Any]) -> None:
    await _device(client)
    t0 = _hour_ago()
    base = {"metric": "temperature", "from": t0.isoformat()}

    async def problem(params: dict[str, str], device: str = "boiler-1") -> tuple[int, dict[str, Any]]:
        got = await client.get(f"/v1/devices/{device}/readings", params=params, headers=auth())
        assert got.headers["content-type"].startswith("application/problem+json")
        return got.status_code, got.json()

    status, body = await problem({**base, "to": (t0 + timedelta(days=40)).isoformat()})
    assert status == 422
    assert body["errors"][0]["field"] == "to"
    assert "31 days" in body["detail"]
    status, body = await problem({**base, "to": (t0 + timedelta(hours=1)).isoformat(), "bucket": "5 minutes"})
    assert (status, body["errors"][0]["field"]) == (422, "bucket")
    status, body = await problem({**base, "to": (t0 + timedelta(days=30)).isoformat(), "bucket": "1s"})
    assert (status, body["errors"][0]["field"]) == (422, "bucket")
    status, body = await problem({**base, "to": (t0 + timedelta(hours=1)).isoformat(), "bucket": "1m", "fill": "x"})
    assert (status, body["errors"][0]["field"]) == (422, "fill")
    status, body = await problem({**base, "metric": "rpm", "to": (t0 + timedelta(hours=1)).isoformat()})
    assert status == 422
    assert "its metrics: pressure, temperature" in body["detail"]
    status, _ = await problem({**base, "to": (t0 + timedelta(hours=1)).isoformat()}, device="ghost")
    assert status == 404


async def test_too_many_rows_is_413_and_bad_bodies_are_explained(client: AsyncTestClient[Any]) -> None:
    await _device(client)
    t0 = _hour_ago().isoformat()
    line = json.dumps({"device_id": "boiler-1", "metric": "temperature", "time": t0, "value": 1.0})
    big = "\n".join([line] * 100_000)
    got = await client.post("/v1/readings", content=big, headers={**auth(), "content-type": "application/x-ndjson"})
    assert got.status_code == 413
    assert "limit is 50000" in got.json()["detail"]
    assert await client.get("/v1/devices/boiler-1/latest", headers=auth()) is not None

    got = await client.post(
        "/v1/readings", content=b"{not json", headers={**auth(), "content-type": "application/json"}
    )
    assert got.status_code == 422
    got = await client.post("/v1/readings", content=b"a,b\n1,2\n", headers={**auth(), "content-type": "text/csv"})
    assert got.status_code == 422
    assert "device_id,metric,time,value" in got.json()["detail"]
    got = await client.post("/v1/readings", content=b"x", headers={**auth(), "content-type": "application/xml"})
    assert got.status_code == 415


async def test_ingest_needs_the_ingest_scope(client: AsyncTestClient[Any]) -> None:
    created = await client.post("/v1/keys", json={"name": "dash", "scopes": ["read"]}, headers=auth())
    reader = created.json()["secret"]
    got = await client.post("/v1/readings", json={"readings": []}, headers=auth(reader))
    assert got.status_code == 403


async def test_site_summary_comes_from_the_read_models_and_is_exact_once_they_caught_up(
    engine_database_url: str,
) -> None:
    """Devices that moved away, a decommissioned one, open / acknowledged / resolved alerts of every
    severity, readings inside and outside the last hour, at two sites."""
    now = datetime.now(UTC)
    async with client_for(settings_for(engine_database_url, read_wait_timeout_s="0.3")) as client:
        client.headers.update(auth())

        async def command(method: str, path: str, body: Any = None) -> int:
            got = await client.request(method, path, json=body)
            assert got.status_code in (200, 201), (path, got.text)
            return int(got.headers["x-position"])

        for device_id, site in (("s-1", "plant-s"), ("s-2", "plant-s"), ("s-3", "plant-s"), ("s-4", "plant-s")):
            await command("POST", "/v1/devices", DEVICE | {"device_id": device_id, "name": device_id, "site": site})
        await command("POST", "/v1/devices", DEVICE | {"device_id": "s-5", "name": "s-5", "site": "plant-s"})
        await command("POST", "/v1/devices", DEVICE | {"device_id": "t-1", "name": "t-1", "site": "plant-t"})
        for device_id, severity in (("s-1", "critical"), ("s-2", "warning"), ("s-3", "info"), ("s-5", "critical")):
            body = {"max": 80, "severity": severity}
            await command("PUT", f"/v1/devices/{device_id}/thresholds/temperature", body)
        await command("PUT", "/v1/devices/s-1/thresholds/pressure", {"max": 5, "severity": "warning"})

        def rows(device_id: str, metric: str, *points: tuple[int, float]) -> list[dict[str, Any]]:
            return [
                {"device_id": device_id, "metric": metric, "time": (now - timedelta(minutes=m)).isoformat(), "value": v}
                for m, v in points
            ]

        readings = (
            rows("s-1", "temperature", (120, 20.0), (50, 21.0), (10, 90.0))  # 2 in the last hour; critical
            + rows("s-1", "pressure", (5, 9.0))  # warning
            + rows("s-2", "temperature", (30, 85.0))  # warning, acknowledged below
            + rows("s-3", "temperature", (70, 20.0), (20, 99.0))  # info, resolved below
            + rows("s-4", "temperature", (40, 20.0), (45, 20.0))  # decommissioned below: its readings still count
            + rows("s-5", "temperature", (15, 95.0), (25, 20.0))  # critical, then the device moves to plant-t
            + rows("t-1", "pressure", (1, 1.0), (90, 1.0))
        )
        ingested = (await client.post("/v1/readings", json={"readings": readings})).json()
        assert (ingested["accepted"], ingested["alerts_raised"]) == (len(readings), 5)

        # nothing is projected yet: the read models know no device at the site
        stale = await client.get("/v1/sites/plant-s/summary", params={"min_position": 1})
        assert (stale.status_code, stale.headers["x-stale"]) == (404, "true")

        async with running_projector(engine_database_url):
            conn = await asyncpg.connect(engine_database_url)
            try:
                await wait_caught_up(conn, timeout=30)  # ingest answers with no position to wait for
            finally:
                await conn.close()
            alerts = (await client.get("/v1/alerts", params={"status": "open"})).json()["items"]
            assert len(alerts) == 5
            ids = {(a["device_id"], a["metric"]): a["alert_id"] for a in alerts}
            await command("POST", f"/v1/alerts/{ids['s-2', 'temperature']}/acknowledge", {"by": "op"})
            await command("POST", f"/v1/alerts/{ids['s-3', 'temperature']}/resolve", {"by": "op"})
            await command("POST", "/v1/devices/s-4/decommission")
            last = await command("PATCH", "/v1/devices/s-5", {"site": "plant-t"})
            conn = await asyncpg.connect(engine_database_url)
            try:  # the read below waits only 0.3 s for `last`; a loaded machine needs longer to project
                await wait_caught_up(conn, timeout=30)
            finally:
                await conn.close()

            got = await client.get("/v1/sites/plant-s/summary", params={"min_position": last})
            assert got.status_code == 200 and "x-stale" not in got.headers, got.text
            assert got.json() == {
                "site": "plant-s",
                "devices": 4,
                "active": 3,
                "open_alerts": {"info": 0, "warning": 2, "critical": 1},
                "readings_last_hour": 2 + 1 + 1 + 1 + 2,
            }
            got = await client.get("/v1/sites/plant-t/summary", headers={"X-Min-Position": str(last)})
            assert got.json() == {
                "site": "plant-t",
                "devices": 2,
                "active": 2,
                "open_alerts": {"info": 0, "warning": 0, "critical": 1},
                "readings_last_hour": 2 + 1,
            }
            # a later command shows up as soon as its position is projected
            last = await command("POST", f"/v1/alerts/{ids['s-1', 'pressure']}/resolve", {})
            got = await client.get("/v1/sites/plant-s/summary", params={"min_position": last})
            assert got.json()["open_alerts"] == {"info": 0, "warning": 1, "critical": 1}
            assert (await client.get("/v1/sites/nowhere/summary")).status_code == 404
