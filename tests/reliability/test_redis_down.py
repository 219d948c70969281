"""Redis goes away: the service keeps serving (degraded, visible in /health/ready, still ready) and
uses Redis again when it returns — without a restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from litestar.channels import ChannelsPlugin, Subscriber
from sensorhub.projections.fanout import ALERTS_CHANNEL

from tests.reliability.support import PrivateRedis
from tests.support.app import auth, client_for, settings_for


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.close()


DEVICE = {
    "device_id": "redis-probe-1",
    "name": "probe",
    "site": "lab",
    "kind": "thermo",
    "metrics": [{"name": "temperature", "unit": "C"}],
}


async def test_service_survives_redis_outage(database_url: str, private_redis: PrivateRedis) -> None:
    # The app's shutdown must not re-raise a Redis error from the outage either.
    async with client_for(settings_for(database_url, redis_url=private_redis.url)) as client:
        channels = client.app.plugins.get(ChannelsPlugin)
        # a live SSE subscriber before the outage: the fan-out's Redis subscription is active
        async with channels.start_subscription([ALERTS_CHANNEL]) as subscriber:
            await outage(client, private_redis)
            await _delivered_after_the_outage(subscriber, private_redis)


async def _delivered_after_the_outage(subscriber: Subscriber, private_redis: PrivateRedis) -> None:
    """The alert stream's subscription outlives the outage: a change published once Redis is back
    (as the projector publishes it) reaches the subscriber that was open all along."""
    publisher = aioredis.Redis.from_url(private_redis.url)
    events = subscriber.iter_events()
    try:
        deadline = time.monotonic() + 15
        n = 0
        while True:
            n += 1
            await publisher.publish(ALERTS_CHANNEL, json.dumps({"type": "Probe", "position": n}))
            try:
                payload = await asyncio.wait_for(anext(events), 0.5)
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "the alert stream stayed silent after Redis returned"
        assert json.loads(payload)["type"] == "Probe"
    finally:
        await publisher.aclose()


async def outage(client: Any, private_redis: PrivateRedis) -> None:
    """Redis up, down (commands and reads go on), up again."""
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["redis"]["ok"] is True

    private_redis.stop()

    t0 = time.monotonic()
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text  # degraded, still ready
    redis_check = ready.json()["checks"]["redis"]
    assert redis_check["ok"] is False and redis_check["critical"] is False, redis_check
    assert "degraded" in redis_check["detail"]

    # Commands and reads keep working.
    created = await client.post("/v1/devices", json=DEVICE, headers=auth())
    assert created.status_code == 201, created.text
    got = await client.get("/v1/devices/redis-probe-1", headers=auth())
    assert got.status_code == 200, got.text
    renamed = await client.patch("/v1/devices/redis-probe-1", json={"name": "renamed"}, headers=auth())
    assert renamed.status_code == 200, renamed.text
    feed = await client.get("/v1/events", headers=auth())
    assert feed.status_code == 200 and len(feed.json()["items"]) == 2, feed.text
    assert time.monotonic() - t0 < 30, "requests hung on the dead Redis"

    metrics = (await client.get("/metrics")).text
    assert "sensorhub_redis_up 0.0" in metrics

    private_redis.start()
    deadline = time.monotonic() + 20
    while True:
        ready = await client.get("/health/ready")
        if ready.json()["checks"]["redis"]["ok"]:
            break
        assert time.monotonic() < deadline, f"redis not used again: {ready.text}"
        await asyncio.sleep(0.5)
    assert ready.status_code == 200
    assert (await client.get("/v1/devices/redis-probe-1", headers=auth())).status_code == 200
    assert "sensorhub_redis_up 1.0" in (await client.get("/metrics")).text
