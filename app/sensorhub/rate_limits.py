"""Per-API-key rate limits: a quota per scope and fixed window, counted in Redis when it is
configured (shared by every replica) and in the process otherwise.

A request costs 1, an ingest request as many units as it carries rows. A request that would go
over its quota is refused and costs nothing, so a client that waits ``retry_after_s`` gets in.
Redis errors fall back to the in-process count for that call: limits stay approximate, never
an outage.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis

from sensorhub.observability import get_logger

log = get_logger("sensorhub.rate_limits")
Clock = Callable[[], float]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: str  # the scope whose quota applied
    limit: int
    window_s: int
    remaining: int
    reset_s: int  # seconds until the window ends (then the quota is whole again)

    @property
    def retry_after_s(self) -> int:
        return max(1, self.reset_s)


class Counter(Protocol):
    async def take(self, key: str, cost: int, limit: int, window_s: int, now: float) -> tuple[bool, int]:
        """Add ``cost`` to ``key``'s count in the current window unless that goes over ``limit``;
        returns (taken, count after)."""
        ...


@dataclass
class InProcessCounter:
    """Counts in this process only (no Redis): each replica then allows the whole quota."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (window index, count)

    async def take(self, key: str, cost: int, limit: int, window_s: int, now: float) -> tuple[bool, int]:
        window = int(now // window_s)
        seen_window, count = self.counts.get(key, (window, 0))
        if seen_window != window:
            count = 0
            if len(self.counts) > 100_000:  # keys of past windows: drop them all rather than grow
                self.counts.clear()
        if count + cost > limit:
            self.counts[key] = (window, count)
            return False, count
        self.counts[key] = (window, count + cost)
        return True, count + cost


# Check and add in one step, so replicas racing on one key never both pass the last unit.
_TAKE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if count + cost > limit then return {0, count} end
count = redis.call('INCRBY', KEYS[1], cost)
if count == cost then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {1, count}
"""


class RedisCounter:
    """After a Redis error, counts in-process for ``retry_after_s`` before asking Redis again: a
    request must not wait for Redis's connect timeout while it is down."""

    def __init__(
        self, redis: aioredis.Redis, fallback: InProcessCounter | None = None, *, retry_after_s: float = 5.0
    ) -> None:
        self._redis = redis
        self._script = redis.register_script(_TAKE)
        self._fallback = fallback or InProcessCounter()
        self._retry_after_s = retry_after_s
        self._down_until = 0.0

    async def take(self, key: str, cost: int, limit: int, window_s: int, now: float) -> tuple[bool, int]:
        if time.monotonic() < self._down_until:
            return await self._fallback.take(key, cost, limit, window_s, now)
        window = int(now // window_s)
        try:
            taken, count = await self._script(keys=[f"sensorhub:rl:{key}:{window}"], args=[cost, limit, window_s + 1])
        except Exception as exc:  # Redis is optional: count here until it answers again
            log.warning("rate limit counter unavailable; counting in-process", error=repr(exc))
            self._down_until = time.monotonic() + self._retry_after_s
            return await self._fallback.take(key, cost, limit, window_s, now)
        return bool(taken), int(count)


@dataclass
class RateLimiter:
    """``quotas``: units per window for each scope (a scope without one is not limited)."""

    quotas: dict[str, int]
    window_s: int
    counter: Counter
    clock: Clock = time.time

    def policy_for(self, scope: str) -> str | None:
        return scope if scope in self.quotas else None

    async def take(self, key_id: str, scope: str, cost: int = 1) -> Decision | None:
        """None when ``scope`` has no quota."""
        policy = self.policy_for(scope)
        if policy is None:
            return None
        limit = self.quotas[policy]
        now = self.clock()
        taken, count = await self.counter.take(f"{key_id}:{policy}", cost, limit, self.window_s, now)
        reset = math.ceil(self.window_s - now % self.window_s)
        return Decision(taken, policy, limit, self.window_s, max(0, limit - count), reset)


def rate_limiter(quotas: dict[str, int], window_s: int, redis: aioredis.Redis | None) -> RateLimiter | None:
    """The limiter the settings ask for; None when no scope has a quota."""
    if not quotas:
        return None
    counter: Counter = RedisCounter(redis) if redis is not None else InProcessCounter()
    return RateLimiter(dict(quotas), window_s, counter)


def headers(decision: Decision) -> dict[str, str]:
    """``RateLimit-Policy`` / ``RateLimit`` (IETF httpapi draft), plus ``Retry-After`` when refused."""
    out = {
        "RateLimit-Policy": f'"{decision.policy}";q={decision.limit};w={decision.window_s}',
        "RateLimit": f'"{decision.policy}";r={decision.remaining};t={decision.reset_s}',
    }
    if not decision.allowed:
        out["Retry-After"] = str(decision.retry_after_s)
    return out
