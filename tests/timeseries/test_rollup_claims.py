"""The rollup mark protocol on every engine: marks are made by the drain of ingest upkeep, after the
readings' commit (``timeseries/upkeep.py``); the drain rewrites a mark only once a maintenance run
has claimed it, and no interleaving of ingest, drains and maintenance loses a reading from a rollup
or lets a query read a stale rollup."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sensorhub.timeseries import queries, rollups, upkeep
from sensorhub.timeseries.store import BucketSpec, Reading, SeriesRange

from tests.timeseries.conftest import NOW, TimeSeries, reading

HOUR = NOW - timedelta(hours=2)


async def _generation(ts: TimeSeries) -> int | None:
    return await ts.pool.fetchval("SELECT generation FROM rollup_dirty WHERE device_id = 'd1' AND bucket = $1", HOUR)


async def _rollup_count(ts: TimeSeries) -> int | None:
    return await ts.pool.fetchval("SELECT count FROM readings_hourly WHERE device_id = 'd1' AND bucket = $1", HOUR)


async def _hour_count(ts: TimeSeries) -> int:
    """The hour as a query answers it (rollup where it is current, raw rows otherwise)."""
    spec = BucketSpec(queries.parse_bucket("1h"), ("count",), "none")
    async with ts.pool.acquire() as conn:
        rows = await ts.store.buckets(conn, SeriesRange("d1", "temp", HOUR, HOUR + timedelta(hours=1)), spec)
    return int(rows[0]["count"]) if rows else 0


async def _waiting_on_a_lock(ts: TimeSeries, pid: int) -> None:
    sql = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1"
    for _ in range(500):
        if await ts.pool.fetchval(sql, pid) == "Lock":
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the recompute never waited for the in-flight drain")


async def _commit_write(ts: TimeSeries, value: float, minute: int) -> None:
    async with ts.pool.acquire() as conn, conn.transaction():
        await ts.store.write(conn, [Reading("d1", "temp", HOUR + timedelta(minutes=minute), value)])


async def test_an_unclaimed_mark_is_neither_rewritten_nor_locked_by_a_drain(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.send([reading("d1", "temp", HOUR + timedelta(minutes=5), 1.0)])
    await ts.send([reading("d1", "temp", HOUR + timedelta(minutes=6), 2.0)])
    assert await _generation(ts) == 1  # marked once, then left alone
    await _commit_write(ts, 3.0, 7)  # committed, its upkeep pending
    assert await _hour_count(ts) == 3
    async with ts.pool.acquire() as drainer, ts.pool.acquire() as maint:
        async with drainer.transaction():
            assert await upkeep.drain(drainer) == 1
            # The in-flight drain does not hold the unclaimed mark (its reading committed before
            # the drain began): a recompute claims it and counts that reading.
            assert await rollups.refresh(maint, batch=100) == 1
            assert await _generation(ts) is None
        assert await rollups.refresh(maint, batch=100) == 0
    assert await _rollup_count(ts) == 3
    assert await _generation(ts) is None
    assert await _hour_count(ts) == 3


async def test_a_write_committed_after_the_recompute_began_is_marked_by_its_drain(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.send([reading("d1", "temp", HOUR + timedelta(minutes=5), 1.0)])
    async with ts.pool.acquire() as ingest, ts.pool.acquire() as maint:
        claimed = await maint.fetch(rollups._CLAIM, 100)  # pyright: ignore[reportPrivateUsage]
        assert [m["generation"] for m in claimed] == [2]
        async with ingest.transaction():
            await ts.store.write(ingest, [Reading("d1", "temp", HOUR + timedelta(minutes=7), 3.0)])
            # The recompute does not see the uncommitted reading, and nothing makes it wait: it clears.
            row = await maint.fetchrow(
                rollups._RECOMPUTE,  # pyright: ignore[reportPrivateUsage]
                [m["device_id"] for m in claimed],
                [m["metric"] for m in claimed],
                [m["bucket"] for m in claimed],
                [m["generation"] for m in claimed],
            )
        assert row is not None and (row["upserted"], row["cleared"]) == (1, 1)
        assert await _rollup_count(ts) == 1  # stale, and not marked yet...
        assert await _generation(ts) is None
        assert await _hour_count(ts) == 2  # ...but the pending upkeep names the hour: answered from raw rows
        assert await upkeep.drain_all(ingest) == 1
        assert await _generation(ts) == 1
        assert await rollups.refresh(maint, batch=100) == 1
    assert await _rollup_count(ts) == 2
    assert await _generation(ts) is None


async def test_a_drain_during_the_recompute_of_its_hour_keeps_the_mark(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.send([reading("d1", "temp", HOUR + timedelta(minutes=5), 1.0)])
    async with ts.pool.acquire() as drainer, ts.pool.acquire() as maint:
        claimed = await maint.fetch(rollups._CLAIM, 100)  # pyright: ignore[reportPrivateUsage]
        assert [m["generation"] for m in claimed] == [2]
        await _commit_write(ts, 3.0, 7)
        async with drainer.transaction():
            assert await upkeep.drain(drainer) == 1  # bumps the claimed mark: 2 -> 3, not yet committed
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
        assert await _generation(ts) == 3  # kept for the next run
        assert await rollups.refresh(maint, batch=100) == 1
    assert await _rollup_count(ts) == 2
    assert await _generation(ts) is None
