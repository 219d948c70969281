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
