"""What is in use across the fleet: ``GET /v1/sites`` and ``GET /v1/metrics`` (registry read model)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.projections.support import project_everything
from tests.support.app import auth


def device(device_id: str, site: str, metrics: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "name": device_id,
        "site": site,
        "kind": "sensor",
        "metrics": [{"name": n, "unit": u} for n, u in metrics],
    }


async def test_sites_and_metrics_in_use_are_listed_and_paged(client: AsyncTestClient[Any], database_url: str) -> None:
    for body in (
        device("a-1", "plant-a", [("temperature", "C"), ("humidity", "%")]),
        device("a-2", "plant-a", [("temperature", "F")]),
        device("b-1", "plant-b", [("pressure", "hPa")]),
    ):
        assert (await client.post("/v1/devices", json=body, headers=auth())).status_code == 201
    last = await client.post("/v1/devices/a-2/decommission", headers=auth())
    await project_everything(database_url)
    position = last.headers["x-position"]

    sites = (await client.get(f"/v1/sites?min_position={position}", headers=auth())).json()
    assert sites == {
        "items": [{"site": "plant-a", "devices": 2, "active": 1}, {"site": "plant-b", "devices": 1, "active": 1}],
        "next_cursor": None,
    }
    first = (await client.get("/v1/sites?limit=1", headers=auth())).json()
    rest = (await client.get(f"/v1/sites?limit=1&cursor={first['next_cursor']}", headers=auth())).json()
    assert [s["site"] for s in first["items"] + rest["items"]] == ["plant-a", "plant-b"]
    assert rest["next_cursor"] is None

    metrics = (await client.get("/v1/metrics", headers=auth())).json()
    assert metrics["items"] == [
        {"name": "humidity", "units": ["%"], "devices": 1},
        {"name": "pressure", "units": ["hPa"], "devices": 1},
        {"name": "temperature", "units": ["C", "F"], "devices": 2},
    ]


async def test_bulk_register_is_atomic_per_device_with_a_result_each(client: AsyncTestClient[Any]) -> None:
    taken = await client.post("/v1/devices", json=device("taken", "s", [("t", "C")]), headers=auth())
    assert taken.status_code == 201
    batch = {
        "devices": [
            device("new-1", "plant-a", [("temperature", "C")]),
            device("taken", "plant-a", [("temperature", "C")]),
            device("dup-metrics", "plant-a", [("t", "C"), ("t", "F")]),
            device("new-2", "plant-b", [("temperature", "C")]),
        ]
    }
    headers = {**auth(), "Idempotency-Key": "batch-1"}
    response = await client.post("/v1/devices:batch", json=batch, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["failed"]) == (2, 2)
    assert [(i["index"], i["status"]) for i in body["items"]] == [(0, 201), (1, 409), (2, 422), (3, 201)]
    assert body["items"][0]["device"]["device_id"] == "new-1" and "unique" in body["items"][2]["detail"]
    assert int(response.headers["x-position"]) == body["items"][3]["device"]["position"]
    assert (await client.get("/v1/devices/new-2", headers=auth())).status_code == 200
    assert (await client.get("/v1/devices/dup-metrics", headers=auth())).status_code == 404
    again = await client.post("/v1/devices:batch", json=batch, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == body
    empty = await client.post("/v1/devices:batch", json={"devices": []}, headers=auth())
    assert empty.status_code == 422
