"""A device name is unique within its site, through HTTP: the loser of a race gets 409 naming the
device that holds the name."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.testing import AsyncTestClient

from tests.support.app import auth


def device(device_id: str, name: str = "Boiler", site: str = "site-a") -> dict[str, Any]:
    return {
        "device_id": device_id,
        "name": name,
        "site": site,
        "kind": "thermo",
        "metrics": [{"name": "t", "unit": "C"}],
    }


async def test_two_concurrent_registrations_of_one_name_one_wins_one_gets_409(client: AsyncTestClient[Any]) -> None:
    first, second = await asyncio.gather(
        client.post("/v1/devices", json=device("dev-1"), headers=auth()),
        client.post("/v1/devices", json=device("dev-2"), headers=auth()),
    )
    assert sorted((first.status_code, second.status_code)) == [201, 409], (first.text, second.text)
    winner, loser = (first, second) if first.status_code == 201 else (second, first)
    problem = loser.json()
    assert problem["status"] == 409
    assert problem["detail"] == (
        f"the name 'Boiler' is already used at site 'site-a' by device {winner.json()['device_id']!r}; "
        "choose another name (or rename or move that device first)"
    )


async def test_rename_and_move_into_a_used_name_get_409(client: AsyncTestClient[Any]) -> None:
    assert (await client.post("/v1/devices", json=device("dev-1"), headers=auth())).status_code == 201
    assert (await client.post("/v1/devices", json=device("dev-2", "Kettle"), headers=auth())).status_code == 201
    assert (await client.post("/v1/devices", json=device("dev-3", site="site-b"), headers=auth())).status_code == 201
    renamed = await client.patch("/v1/devices/dev-2", json={"name": "Boiler"}, headers=auth())
    assert renamed.status_code == 409
    assert "by device 'dev-1'" in renamed.json()["detail"]
    moved = await client.patch("/v1/devices/dev-3", json={"site": "site-a"}, headers=auth())
    assert moved.status_code == 409
    freed = await client.patch("/v1/devices/dev-1", json={"name": "Old boiler"}, headers=auth())
    assert freed.status_code == 200
    assert (await client.patch("/v1/devices/dev-3", json={"site": "site-a"}, headers=auth())).status_code == 200
