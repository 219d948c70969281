"""The rollup mark protocol on every engine: ingest rewrites a mark only once a maintenance run has
claimed it, and no interleaving of ingest and maintenance loses a reading from a rollup."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sensorhub.timeseries import rollups
from sensorhub.timeseries.store import Reading

from tests.timeseries.conftest import NOW, TimeSeries, reading

HOUR = NOW - timedelta(hours=2)


async def _generation(ts: TimeSeries) -> int | None:
    return await ts.pool.fetchval("SELECT generation FROM rollup_dirty WHERE device_id = 'd1' AND bucket = $1", HOUR)


async def _rollup_count(ts: TimeSeries) -> int | None:
    return await ts.pool.fetchval("SELECT count FROM readings_hourly WHERE device_id = 'd1' AND bucket = $1", HOUR)


async def _waiting_on_a_lock(ts: TimeSeries, pid: int) -> None:
    sql = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1"
    for _ in range(500):
        if await ts.pool.fetchval(sql, pid) == "Lock":
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the recompute never waited for the in-flight write")


async def test_an_unclaimed_mark_is_not_rewritten_and_a_locked_one_is_skipped(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.send([reading("d1", "temp", HOUR + timedelta(minutes=5), 1.0)])
    await ts.send([reading("d1", "temp", HOUR + timedelta(minutes=6), 2.0)])
    assert await _generation(ts) == 1  # marked once, then only locked
    async with ts.pool.acquire() as ingest, ts.pool.acquire() as maint:
        async with ingest.transaction():
            await ts.store.write(ingest, [Reading("d1", "temp", HOUR + timedelta(minutes=7), 3.0)])
            # The in-flight write holds the mark: this run skips it rather than miss the reading.
            assert await rollups.refresh(maint, batch=100) == 0
            assert await _generation(ts) == 1
        assert await rollups.refresh(maint, batch=100) == 1
    assert await _rollup_count(ts) == 3
    assert await _generation(ts) is None


async def test_a_write_during_the_recompute_of_its_hour_keeps_the_mark(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.send([reading("d1", "temp", HOUR + timedelta(minutes=5), 1.0)])
    async with ts.pool.acquire() as ingest, ts.pool.acquire() as maint:
        claimed = await maint.fetch(rollups._CLAIM, 100)  # pyright: ignore[reportPrivateUsage]
        assert [m["generation"] for m in claimed] == [2]
        async with ingest.transaction():
            await ts.store.write(ingest, [Reading("d1", "temp", HOUR + timedelta(minutes=7), 3.0)])
            assert await _generation(ts) == 2  # not yet committed
            # The recompute's snapshot does not see the uncommitted reading; its clear waits for the write.
            recompute = asyncio.create_task(
                maint.fetchrow(
                    rollups._RECOMPUTE,  # pyright: ignore[reportPrivateUsage]
                    [m["device_id"] for m in claimed],
                    [m["metric"] for m in claimed],
                    [m["bucket"] for m in claimed],
                    [m["generation"] for m in claimed],
                )
            )
            await _waiting_on_a_lock(ts, maint.get_server_pid())
        row = await recompute
        assert row is not None and (row["upserted"], row["cleared"]) == (1, 0)
        assert await _rollup_count(ts) == 1  # stale, but the hour is still marked
        assert await _generation(ts) == 3
        assert await rollups.refresh(maint, batch=100) == 1
    assert await _rollup_count(ts) == 2
    assert await _generation(ts) is None
