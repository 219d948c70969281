"""Per-key rate limits over HTTP: 429 with ``RateLimit`` and ``Retry-After``; ingest counts rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.support.app import auth, client_for, settings_for

DEVICE = {"device_id": "dev-1", "name": "n", "site": "s", "kind": "k", "metrics": [{"name": "t", "unit": "C"}]}


@pytest.fixture
async def limited(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = settings_for(database_url, redis_url, rate_limits='{"read": 3, "ingest": 5}')
    async with client_for(settings) as c:
        yield c


def rows(n: int, first: int = 0) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    times = [(start + timedelta(seconds=i)).isoformat() for i in range(first, first + n)]
    return {"readings": [{"device_id": "dev-1", "metric": "t", "time": t, "value": 1.0} for t in times]}


async def test_reads_over_the_quota_get_429_with_retry_after(limited: AsyncTestClient[Any]) -> None:
    for remaining in (2, 1, 0):
        ok = await limited.get("/v1/devices", headers=auth())
        assert ok.status_code == 200
        assert ok.headers["ratelimit"].startswith(f'"read";r={remaining};t=')
        assert ok.headers["ratelimit-policy"] == '"read";q=3;w=60'
    refused = await limited.get("/v1/devices", headers=auth())
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "3 `read` units per 60 s" in refused.json()["detail"]
    # Another key has its own quota; public routes and unlimited scopes are not counted.
    key = (await limited.post("/v1/keys", json={"name": "other", "scopes": ["read"]}, headers=auth())).json()
    assert (await limited.get("/v1/devices", headers=auth(key["secret"]))).status_code == 200
    assert (await limited.get("/health/live")).status_code == 200
    assert "ratelimit" not in (await limited.post("/v1/devices", json=DEVICE, headers=auth())).headers


async def test_ingest_is_counted_in_rows(limited: AsyncTestClient[Any]) -> None:
    assert (await limited.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
    first = await limited.post("/v1/readings", json=rows(3), headers=auth())
    assert first.status_code == 200, first.text
    assert first.headers["ratelimit"].startswith('"ingest";r=2;')
    over = await limited.post("/v1/readings", json=rows(3), headers=auth())
    assert over.status_code == 429
    fits = await limited.post("/v1/readings", json=rows(2, 10), headers=auth())
    assert fits.status_code == 200 and fits.json()["accepted"] == 2
    too_big = await limited.post("/v1/readings", json=rows(6), headers=auth())
    assert too_big.status_code == 429 and "split it" in too_big.json()["detail"]
