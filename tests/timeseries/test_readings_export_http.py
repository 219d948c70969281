"""Raw readings pages and the streaming export over HTTP, on every engine and storage: the pages
and the export give the same readings; the export re-ingests as it is; bad parameters are 422."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.support.app import auth, client_for, settings_for
from tests.timeseries.conftest import storage_around_ingest

DEVICE = {
    "device_id": "boiler-1",
    "name": "Boiler",
    "site": "plant-a",
    "kind": "thermometer",
    "metrics": [{"name": "temperature", "unit": "C"}, {"name": "pressure", "unit": "bar"}],
}


@pytest.fixture
async def client(engine_database_url: str, storage: str) -> AsyncIterator[AsyncTestClient[Any]]:
    async with client_for(settings_for(engine_database_url)) as c:
        async with storage_around_ingest(c, storage, engine_database_url):
            yield c


def _window(start: datetime, end: datetime) -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat()}


async def _seed(client: AsyncTestClient[Any]) -> tuple[datetime, datetime]:
    assert (await client.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    rows = [
        {"device_id": "boiler-1", "metric": metric, "time": (start + timedelta(minutes=37 * i)).isoformat(), "value": v}
        for i in range(70)
        for metric, v in (("temperature", i / 4), ("pressure", 1 + i / 1000))
    ]
    ingested = await client.post("/v1/readings", json={"readings": rows}, headers=auth())
    assert ingested.json()["accepted"] == 140
    return start, start + timedelta(days=2)


async def test_raw_pages_and_the_export_agree(client: AsyncTestClient[Any]) -> None:
    start, end = await _seed(client)
    params = {"metric": "temperature", **_window(start, end)}
    whole = (await client.get("/v1/devices/boiler-1/readings", params=params, headers=auth())).json()
    assert len(whole["items"]) == 70
    assert whole["next_cursor"] is None
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": "16", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/devices/boiler-1/readings", params=query, headers=auth())).json()
        assert len(page["items"]) <= 16
        paged += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == whole["items"]

    ndjson = await client.get(
        "/v1/devices/boiler-1/readings/export", params={**_window(start, end), "format": "ndjson"}, headers=auth()
    )
    assert ndjson.status_code == 200, ndjson.text
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [r["metric"] for r in rows] == ["pressure"] * 70 + ["temperature"] * 70
    exported = [{"time": r["time"], "value": r["value"]} for r in rows if r["metric"] == "temperature"]
    assert exported == paged

    csv = await client.get("/v1/devices/boiler-1/readings/export", params=_window(start, end), headers=auth())
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="boiler-1-readings.csv"' in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0] == "device_id,metric,time,value"
    assert len(lines) == 141
    # What the export writes, ingest takes back as it is: every row a duplicate of a stored one.
    again = await client.post("/v1/readings", content=csv.content, headers={**auth(), "Content-Type": "text/csv"})
    assert again.json() | {"alerts_raised": 0} == {
        "accepted": 0,
        "duplicates": 140,
        "rejected": [],
        "alerts_raised": 0,
        "alerts_resolved": 0,
    }
    one = await client.get(
        "/v1/devices/boiler-1/readings/export", params={**_window(start, end), "metric": "pressure"}, headers=auth()
    )
    assert len(one.text.splitlines()) == 71


async def test_bad_paging_and_export_parameters_are_422_naming_the_field(client: AsyncTestClient[Any]) -> None:
    start, end = await _seed(client)
    window = _window(start, end)
    cases: list[tuple[str, dict[str, str], str]] = [
        ("/v1/devices/boiler-1/readings", {"metric": "temperature", **window, "cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ("/v1/devices/boiler-1/readings", {"metric": "temperature", **window, "cursor": "WyJ4Il0"}, "cursor"),
        ("/v1/devices/boiler-1/readings", {"metric": "temperature", **window, "limit": "10001"}, "limit"),
        ("/v1/devices/boiler-1/readings", {"metric": "temperature", **window, "bucket": "1h", "limit": "5"}, "limit"),
        ("/v1/devices/boiler-1/readings/export", {**window, "metric": "humidity"}, "metric"),
        ("/v1/devices/boiler-1/readings/export", {**window, "format": "xml"}, "format"),
        ("/v1/devices/boiler-1/readings/export", {"from": window["to"], "to": window["from"]}, "to"),
    ]
    for path, params, field in cases:
        answer = await client.get(path, params=params, headers=auth())
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["errors"][0]["field"] == field, (params, answer.text)
    missing = await client.get("/v1/devices/nobody/readings/export", params=window, headers=auth())
    assert missing.status_code == 404
