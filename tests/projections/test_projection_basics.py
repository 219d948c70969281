"""The projections against a real database: folding, exactly-once batches, lag, rebuild."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from sensorhub.projections import queries, store

from tests.projections.support import (
    append_history,
    assert_equals_scratch,
    running_projector,
    wait_caught_up,
)


async def test_catch_up_builds_devices_alerts_and_history(pool: asyncpg.Pool, database_url: str) -> None:
    async with pool.acquire() as conn:
        total = await append_history(conn, 1, 120)
    started = time.perf_counter()
    async with running_projector(database_url), pool.acquire() as conn:
        await wait_caught_up(conn)
    elapsed = time.perf_counter() - started
    async with pool.acquire() as conn:
        device = await queries.device(conn, "dev-6")
        assert device is not None
        assert device["name"] == "renamed-6"
        assert device["site"] == "site-1"
        assert device["thresholds"] == {"temperature": {"min": 0, "max": 31, "severity": "warning"}}
        # alert-6 was acknowledged (6 % 3 == 0) and auto-resolved (6 % 2 == 0): not open
        assert device["open_alerts"] == 0
        assert (await queries.device(conn, "dev-3"))["open_alerts"] == 1  # type: ignore[index]
        alert = await queries.alert(conn, "alert-4")
        assert alert is not None
        assert (alert["status"], alert["resolution"], alert["resolved_by"], alert["note"]) == (
            "resolved",
            "manual",
            "op",
            "fixed",
        )
        counts = await queries.site_counts(conn, "site-1")
        assert counts.devices == 24
        assert sum(counts.open_alerts.values()) == len([i for i in range(1, 121) if i % 5 == 1 and i % 2 == 1])
        history = await conn.fetch("SELECT transition FROM rm_alert_history WHERE alert_id = 'alert-6' ORDER BY time")
        assert [r["transition"] for r in history] == ["raised", "acknowledged", "auto_resolved"]
        for name in ("registry", "alert_history"):
            await assert_equals_scratch(conn, name)
        statuses = await store.status(conn, 30.0)
    assert all(s.position > 0 and s.lag_events == 0 for s in statuses)
    print(f"caught up {total} events in {elapsed:.2f}s")


async def test_rebuild_swaps_in_a_new_generation_with_the_same_content(pool: asyncpg.Pool, database_url: str) -> None:
    async with pool.acquire() as conn:
        await append_history(conn, 1, 60)
    async with running_projector(database_url), pool.acquire() as conn:
        await wait_caught_up(conn)
        assert await store.request_rebuild(conn, "registry")
        for _ in range(200):
            gens = await store.generations(conn, "registry")
            # the leader drops the retired generation right after the swap commits, not in it
            retired = await conn.fetchval("SELECT to_regclass('rm_devices_g1')")
            if gens.live == 2 and gens.shadow is None and retired is None:
                break
            await asyncio.sleep(0.05)
        assert (await store.generations(conn, "registry")).live == 2
        assert await conn.fetchval("SELECT to_regclass('rm_devices_g1')") is None
        await assert_equals_scratch(conn, "registry")


async def test_a_swap_yields_to_a_reader_holding_the_views_and_swaps_after_it(pool: asyncpg.Pool) -> None:
    """Readers lock a projection's views in their own order; a swap that waited for them could
    deadlock with one and make the server kill a reader's request. The swap gives up after
    SWAP_LOCK_TIMEOUT instead (nothing changed) and succeeds once the reader is done."""
    async with pool.acquire() as conn, pool.acquire() as reader:
        shadow = await store.start_shadow(conn, "registry")
        live = (await store.generations(conn, "registry")).live
        reading = reader.transaction()
        await reading.start()
        await reader.fetchval("SELECT count(*) FROM rm_alerts")  # holds the view until it commits
        assert await asyncio.wait_for(store.swap_if_caught_up(conn, "registry"), 10) is None
        gens = await store.generations(conn, "registry")
        assert (gens.live, gens.shadow) == (live, shadow)  # the swap changed nothing
        await reading.commit()
        assert await asyncio.wait_for(store.swap_if_caught_up(conn, "registry"), 10) == live
        gens = await store.generations(conn, "registry")
        assert (gens.live, gens.shadow) == (shadow, None)
