"""Reads of an archived alert over HTTP: the alert and its events still answer, marked
``archived: true``; commands on it are refused as on any resolved alert."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.e2e.test_alerts_http import raise_one
from tests.projections.support import project_everything
from tests.support.app import auth


async def _resolved_and_archived(client: AsyncTestClient[Any], pool: asyncpg.Pool) -> dict[str, Any]:
    await raise_one(pool)
    assert (await client.post("/v1/alerts/al-1/resolve", json={"note": "done"}, headers=auth())).status_code == 200
    before = (await client.get("/v1/alerts/al-1", headers=auth())).json()
    assert before["archived"] is False
    assert len(await PostgresEventStore(pool).archive_streams(["al-1"])) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = 'al-1'") == 0
    return before


async def test_an_archived_alert_answers_from_the_archive(client: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    before = await _resolved_and_archived(client, pool)
    got = await client.get("/v1/alerts/al-1", headers=auth())  # no projector here: rebuilt from its events
    assert got.status_code == 200
    assert got.json() == {**before, "archived": True}
    assert got.headers["etag"] == '"2"'
    events = await client.get("/v1/alerts/al-1/events", headers=auth())
    assert events.status_code == 200
    page = events.json()
    assert page["archived"] is True
    assert [(e["stream_version"], e["type"]) for e in page["items"]] == [(1, "AlertRaised"), (2, "AlertResolved")]
    assert page["items"][1]["data"]["note"] == "done"
    second = (await client.get("/v1/alerts/al-1/events?limit=1&cursor=2", headers=auth())).json()
    assert [e["stream_version"] for e in second["items"]] == [2]
    refused = await client.post("/v1/alerts/al-1/resolve", json={}, headers=auth())
    assert refused.status_code == 409
    feed = (await client.get("/v1/events", headers=auth())).json()
    assert [e["type"] for e in feed["items"]] == ["AlertRaised", "AlertResolved"]


async def test_the_read_model_answer_is_marked_too(
    client: AsyncTestClient[Any], pool: asyncpg.Pool, database_url: str
) -> None:
    await raise_one(pool)
    assert (await client.post("/v1/alerts/al-1/resolve", json={}, headers=auth())).status_code == 200
    await project_everything(database_url)
    await PostgresEventStore(pool).archive_streams(["al-1"])
    got = await client.get("/v1/alerts/al-1", headers=auth())
    assert (got.status_code, got.json()["archived"], got.json()["status"]) == (200, True, "resolved")
    listed = (await client.get("/v1/alerts", headers=auth())).json()["items"]
    assert [(a["alert_id"], a["archived"]) for a in listed] == [("al-1", True)]
    events = (await client.get("/v1/events", headers=auth())).json()["items"]
    fresh = await client.get("/v1/alerts/al-1", headers={**auth(), "X-Min-Position": str(events[-1]["position"])})
    assert fresh.status_code == 200  # a position of an archived event is still a consistency token


async def test_events_of_an_unknown_or_non_alert_stream_are_404(client: AsyncTestClient[Any]) -> None:
    assert (await client.get("/v1/alerts/nope/events", headers=auth())).status_code == 404
    device = {"device_id": "d0", "name": "n", "site": "s", "kind": "k", "metrics": [{"name": "t", "unit": "C"}]}
    assert (await client.post("/v1/devices", json=device, headers=auth())).status_code == 201
    assert (await client.get("/v1/alerts/d0/events", headers=auth())).status_code == 404
    assert (await client.get("/v1/alerts/d0/events?from_version=2", headers=auth())).status_code == 404
