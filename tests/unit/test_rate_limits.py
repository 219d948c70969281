"""The rate limiter on its own: fixed windows, costs, refusals that cost nothing, and Redis shared
by replicas (with the in-process count as the fallback when Redis is gone)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from sensorhub.rate_limits import InProcessCounter, RateLimiter, RedisCounter, headers, rate_limiter


class FakeClock:
    def __init__(self, now: float = 999_980.0) -> None:  # 20 s into a 60 s window
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_quota_per_key_and_scope_resets_with_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"read": 2, "ingest": 10}, 60, InProcessCounter(), clock)
    first = await limiter.take("k1", "read")
    assert first is not None and first.allowed and (first.remaining, first.reset_s) == (1, 40)
    assert (await limiter.take("k1", "read")).allowed  # type: ignore[union-attr]
    refused = await limiter.take("k1", "read")
    assert refused is not None and not refused.allowed and refused.retry_after_s == 40
    assert (await limiter.take("k2", "read")).allowed  # type: ignore[union-attr]  # another key
    assert await limiter.take("k1", "write") is None  # no quota for that scope
    clock.now += 40
    assert (await limiter.take("k1", "read")).allowed  # type: ignore[union-attr]


async def test_rows_are_units_and_a_refused_request_costs_nothing() -> None:
    limiter = RateLimiter({"ingest": 10}, 60, InProcessCounter(), FakeClock())
    assert (await limiter.take("k", "ingest", 7)).allowed  # type: ignore[union-attr]
    over = await limiter.take("k", "ingest", 4)
    assert over is not None and not over.allowed and over.remaining == 3
    fits = await limiter.take("k", "ingest", 3)
    assert fits is not None and fits.allowed and fits.remaining == 0


async def test_headers_follow_the_ietf_draft() -> None:
    limiter = RateLimiter({"write": 5}, 60, InProcessCounter(), FakeClock())
    decision = await limiter.take("k", "write")
    assert decision is not None
    assert headers(decision) == {"RateLimit-Policy": '"write";q=5;w=60', "RateLimit": '"write";r=4;t=40'}


def test_no_quota_means_no_limiter() -> None:
    assert rate_limiter({}, 60, None) is None
    limiter = rate_limiter({"read": 1}, 60, None)
    assert limiter is not None and isinstance(limiter.counter, InProcessCounter)


async def test_replicas_share_the_quota_through_redis(redis_url: str) -> None:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    try:
        clock = FakeClock()  # one window for the whole test, whatever the wall clock does
        replicas = [RateLimiter({"read": 10}, 60, RedisCounter(c), clock) for c in clients]
        decisions = [d for d in await asyncio.gather(*(replicas[i % 2].take("key-1", "read") for i in range(40))) if d]
        assert sum(d.allowed for d in decisions) == 10
        assert all(d.remaining == 0 for d in decisions if not d.allowed)
    finally:
        for c in clients:
            await c.aclose()


async def test_without_redis_the_count_falls_back_to_the_process() -> None:
    gone = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        limiter = RateLimiter({"read": 1}, 60, RedisCounter(gone), FakeClock())
        assert (await limiter.take("k", "read")).allowed  # type: ignore[union-attr]
        started = time.monotonic()
        assert not (await limiter.take("k", "read")).allowed  # type: ignore[union-attr]
        assert time.monotonic() - started < 0.1  # no second wait for the dead Redis
    finally:
        await gone.aclose()


@pytest.mark.parametrize("value", ['{"reads": 5}', "five"])
def test_settings_refuse_unknown_scopes_and_bad_json(value: str) -> None:
    from sensorhub.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="SENSORHUB_RATE_LIMITS"):
        load_settings({"SENSORHUB_RATE_LIMITS": value})
