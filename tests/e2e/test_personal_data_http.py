"""Forgetting a data subject over HTTP, checked on every read path: the read model (detail, list,
its in-process cache), the aggregate (commands, snapshots), time travel (``version``, ``at``), the
device's event stream, the global feed, and the read model after a rebuild from scratch.

No archive of *events* exists today (the archive holds readings, which carry no personal data), so
"after an archive restore" is covered by what a restore would replay: the stored events and
snapshots, read again from scratch (the rebuild, and loads with and without a snapshot)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from sensorhub.cli.projection_commands import runner_config
from sensorhub.projections import store
from sensorhub.settings import Settings

from tests.projections.support import FAST, running_projector, wait_caught_up
from tests.support.app import auth, client_for, settings_for

ADA = {"subject_id": "customer-ada", "name": "Ada Lovelace", "email": "ada@example.com"}
GRACE = {"subject_id": "customer-grace", "name": "Grace Hopper", "email": "grace@example.com"}
ERASED = {"subject_id": "customer-ada", "name": None, "email": None, "erased": True}
PERSONAL = ("Lovelace", "ada@example.com", "Square")


def _device(device_id: str, owner: dict[str, str] | None, address: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "device_id": device_id,
        "name": f"Boiler {device_id}",
        "site": "plant-a",
        "kind": "thermo",
        "metrics": [{"name": "temperature", "unit": "C"}],
    }
    if owner is not None:
        body["owner"] = owner
    if address is not None:
        body["address"] = address
    return body


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return settings_for(database_url, key_file=str(tmp_path / "kek"), snapshot_every='{"Device": 2}')


async def _plain_text_anywhere(pool: asyncpg.Pool) -> list[str]:
    """Tables where any of Ada's personal data is stored in plain text."""
    found = []
    async with pool.acquire() as conn:
        for relation, column in (("events", "data"), ("snapshots", "state"), ("rm_devices", "rm_devices")):
            text = " ".join(r[0] for r in await conn.fetch(f"SELECT {column}::text FROM {relation}"))
            found += [relation for word in PERSONAL if word in text]
    return found


async def _read_everything(client: AsyncTestClient[Any], position: str) -> dict[str, Any]:
    """Ada's device on every read path (read models at least at ``position``)."""
    fresh = {**auth(), "X-Min-Position": position}
    detail = await client.get("/v1/devices/d-ada", headers=fresh)
    listed = await client.get("/v1/devices?site=plant-a", headers=fresh)
    cached = await client.get("/v1/devices/d-ada", headers=auth())  # no X-Min-Position: through the cache
    version_1 = await client.get("/v1/devices/d-ada?version=1", headers=auth())
    at_now = await client.get("/v1/devices/d-ada", params={"at": datetime.now(UTC).isoformat()}, headers=auth())
    stream = await client.get("/v1/devices/d-ada/events", headers=auth())
    feed = await client.get("/v1/events?limit=1000", headers=auth())
    for response in (detail, listed, cached, version_1, at_now, stream, feed):
        assert response.status_code == 200, response.text
    return {
        "detail": detail.json(),
        "listed": next(d for d in listed.json()["items"] if d["device_id"] == "d-ada"),
        "cached": cached.json(),
        "version_1": version_1.json(),
        "at_now": at_now.json(),
        "stream": [e for e in stream.json()["items"] if "owner" in e["data"]],
        "feed": [e for e in feed.json()["items"] if e["stream_id"] == "d-ada" and "owner" in e["data"]],
        "texts": [detail.text, listed.text, cached.text, version_1.text, at_now.text, stream.text, feed.text],
    }


async def test_a_forgotten_subject_reads_as_erased_on_every_read_path(
    database_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path)
    config = dataclasses.replace(FAST, subject_keys=runner_config(settings).subject_keys)
    async with client_for(settings) as client, running_projector(database_url, config=config):
        created = await client.post("/v1/devices", json=_device("d-ada", ADA, "12 St James's Square"), headers=auth())
        assert created.status_code == 201, created.text
        assert created.json()["owner"] == {**ADA, "erased": False}
        assert created.json()["address"] == "12 St James's Square"
        grace = await client.post("/v1/devices", json=_device("d-grace", GRACE, "Arlington"), headers=auth())
        assert grace.status_code == 201, grace.text
        nobody = await client.post("/v1/devices", json=_device("d-none", None), headers=auth())
        assert nobody.json()["owner"] is None
        renamed = await client.patch("/v1/devices/d-ada", json={"name": "Kettle"}, headers=auth())  # snapshot at 2
        moved = await client.patch(
            "/v1/devices/d-ada",
            json={"owner": {**ADA, "email": "ada@example.com"}, "address": "1 Square"},
            headers=auth(),
        )
        assert renamed.status_code == moved.status_code == 200, moved.text
        assert moved.json()["address"] == "1 Square" and moved.json()["version"] == 3

        before = await _read_everything(client, moved.headers["x-position"])
        for view in ("detail", "listed", "cached", "at_now"):
            assert before[view]["owner"] == {**ADA, "erased": False}, view
            assert before[view]["address"] == "1 Square", view
        assert before["version_1"]["address"] == "12 St James's Square"
        assert [e["data"]["owner"]["name"] for e in before["feed"]] == ["Ada Lovelace", "Ada Lovelace"]
        assert await _plain_text_anywhere(pool) == ["rm_devices"] * 3  # only the read model shows it, by design

        # only an admin key may forget; a malformed subject id is 422
        reader = await client.post("/v1/keys", json={"name": "reader", "scopes": ["read", "write"]}, headers=auth())
        refused = await client.post("/v1/subjects/customer-ada/forget", headers=auth(reader.json()["secret"]))
        assert refused.status_code == 403
        malformed = await client.post("/v1/subjects/no%20spaces/forget", headers=auth())
        assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "subject_id"

        forgot = await client.post("/v1/subjects/customer-ada/forget", headers=auth())
        assert forgot.status_code == 200, forgot.text
        assert forgot.json() == {
            "subject_id": "customer-ada",
            "key_destroyed": True,
            "position": int(forgot.headers["x-position"]),
        }
        after = await _read_everything(client, forgot.headers["x-position"])
        for view in ("detail", "listed", "cached", "version_1", "at_now"):
            assert after[view]["owner"] == ERASED, view
            assert after[view]["address"] is None, view
            assert after[view]["name"] in ("Kettle", "Boiler d-ada"), view  # the rest of the history is intact
        assert after["detail"]["version"] == 3
        for event in after["stream"] + after["feed"]:
            assert event["data"]["owner"] == ERASED and event["data"]["address"] is None
        assert len(after["stream"]) == len(after["feed"]) == 2
        for text in after["texts"]:
            assert not any(word in text for word in PERSONAL) and "sealed" not in text
        audit = await client.get("/v1/events?type=SubjectForgotten", headers=auth())
        assert [e["data"] for e in audit.json()["items"]] == [{"subject_id": "customer-ada", "key_destroyed": True}]
        assert await _plain_text_anywhere(pool) == []

        # the aggregate: a command loads it (from its snapshot) and answers with it; it still works
        command = await client.patch("/v1/devices/d-ada", json={"site": "plant-b"}, headers=auth())
        assert command.status_code == 200, command.text
        assert (command.json()["owner"], command.json()["address"], command.json()["version"]) == (ERASED, None, 4)
        refused_address = await client.patch("/v1/devices/d-ada", json={"address": "elsewhere"}, headers=auth())
        assert refused_address.status_code == 422 and "erased owner" in refused_address.json()["detail"]
        # another subject is untouched
        other = await client.get(
            "/v1/devices/d-grace", headers={**auth(), "X-Min-Position": command.headers["x-position"]}
        )
        assert other.json()["owner"] == {**GRACE, "erased": False} and other.json()["address"] == "Arlington"

        # a rebuild of the read model from scratch replays the erased history
        async with pool.acquire() as conn:
            before_rebuild = await store.rebuilt_at(conn, "registry")
            assert (await client.post("/v1/projections/registry/rebuild", headers=auth())).status_code == 202
            for _ in range(1200):  # at most a minute
                if await store.swapped_in_since(conn, "registry", before_rebuild) is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the registry rebuild was not swapped in within a minute")
            await wait_caught_up(conn)
        rebuilt = await client.get("/v1/devices?site=plant-b", headers=auth())
        assert [(d["device_id"], d["owner"], d["address"]) for d in rebuilt.json()["items"]] == [
            ("d-ada", ERASED, None)
        ]
        kept = await client.get("/v1/devices/d-grace", headers=auth())
        assert kept.json()["owner"] == {**GRACE, "erased": False}
        assert await _plain_text_anywhere(pool) == []

        # forgetting again is answered, and recorded, but destroys nothing
        again = await client.post("/v1/subjects/customer-ada/forget", headers=auth())
        assert again.status_code == 200 and again.json()["key_destroyed"] is False
