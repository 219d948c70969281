"""Readers concurrent with compression never see a day twice nor lose it.

A group's raw rows are deleted and its packed rows written by one statement in one transaction, so
any snapshot sees exactly one of the two. The truncate of the emptied partition is not MVCC-safe: a
transaction whose snapshot predates the packing and that reads the partition only after the
truncate would find it empty *and* miss the packed rows. ``release_emptied`` therefore waits for
such snapshots; these tests count per series while compression runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import pytest
from sensorhub.timeseries.compression import CompressionReport, compress_day

from tests.timeseries.conftest import NOW, TimeSeries, reading

DAY = NOW.replace(hour=0) - timedelta(days=3)
DEVICES = [f"d{i:02d}" for i in range(24)]
METRICS = ("temp", "hum")
PER_SERIES = 48
EXPECTED = {(d, m): PER_SERIES for d in DEVICES for m in METRICS}
# Every reading of the sealed day, per series, through the one function every query reads with.
COUNT = """
SELECT d.device_id, m.metric,
       (SELECT count(*)
        FROM readings_series(d.device_id, m.metric, $1::timestamptz, $1::timestamptz + interval '1 day'))
FROM unnest($2::text[]) AS d(device_id) CROSS JOIN unnest($3::text[]) AS m(metric)
"""


@pytest.fixture
def storage() -> str:
    return "raw"


async def _seed(ts: TimeSeries) -> None:
    for device in DEVICES:
        await ts.register(device, *METRICS)
    result = await ts.send([
        reading(d, m, DAY + timedelta(minutes=30 * k), float(k)) for d in DEVICES for m in METRICS
        for k in range(PER_SERIES)
    ])
    assert result.accepted == len(EXPECTED) * PER_SERIES


async def _counts(conn: object) -> dict[tuple[str, str], int]:
    rows = await conn.fetch(COUNT, DAY, DEVICES, list(METRICS))  # type: ignore[attr-defined]
    return {(r[0], r[1]): int(r[2]) for r in rows}


async def _partition(ts: TimeSeries) -> object:
    async with ts.pool.acquire() as conn:
        return next(p for p in await ts.store.engine.partitions(conn) if p.start == DAY)


async def test_a_snapshot_older_than_the_packing_still_sees_the_whole_day(ts: TimeSeries) -> None:
    """A repeatable-read reader takes its snapshot, every group is packed and committed, then the
    reader counts: it must see each series whole (raw, in its snapshot). Without the wait the truncate
    commits first and the reader finds the partition empty and the packed rows invisible: zero."""
    await _seed(ts)
    partition = await _partition(ts)
    reader = await ts.pool.acquire()
    try:
        tx = reader.transaction(isolation="repeatable_read", readonly=True)
        await tx.start()
        await reader.fetchval("SELECT count(*) FROM readings_packed")  # the snapshot, before any packing
        report = CompressionReport()

        async def pack() -> None:
            async with ts.pool.acquire() as conn:
                await compress_day(conn, partition, 8, report)  # type: ignore[arg-type]

        packing = asyncio.create_task(pack())
        # Every group committed (the last one's progress row is visible outside the reader's snapshot).
        for _ in range(1200):
            if await ts.pool.fetchval("SELECT coalesce(sum(readings), 0) FROM readings_compression") == len(
                EXPECTED) * PER_SERIES:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the packing never finished")
        # Give an unguarded truncate every chance to commit before the reader looks.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(packing), timeout=3)
        assert await _counts(reader) == EXPECTED
        await tx.commit()
    finally:
        await ts.pool.release(reader)
    await asyncio.wait_for(packing, timeout=60)
    assert report.readings == len(EXPECTED) * PER_SERIES
    assert await ts.pool.fetchval("SELECT pg_relation_size($1::regclass)", partition.name) == 0  # type: ignore[attr-defined]
    assert await _counts(ts.pool) == EXPECTED


async def test_concurrent_readers_count_every_series_exactly_while_a_day_is_compressed(ts: TimeSeries) -> None:
    """Readers in read-committed statements and in repeatable-read transactions (snapshot first,
    count later) loop while the day is packed group by group and truncated: no count may differ."""
    await _seed(ts)
    partition = await _partition(ts)
    done = asyncio.Event()
    seen: Counter[str] = Counter()
    wrong: list[tuple[str, dict[tuple[str, str], int]]] = []

    async def statement_reader() -> None:
        async with ts.pool.acquire() as conn:
            while not done.is_set():
                got = await _counts(conn)
                seen["statement"] += 1
                if got != EXPECTED:
                    wrong.append(("statement", got))

    async def snapshot_reader() -> None:
        async with ts.pool.acquire() as conn:
            while not done.is_set():
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    await conn.fetchval("SELECT count(*) FROM readings_packed")
                    await asyncio.sleep(0.01)
                    got = await _counts(conn)
                seen["snapshot"] += 1
                if got != EXPECTED:
                    wrong.append(("snapshot", got))

    readers = [asyncio.create_task(statement_reader()), asyncio.create_task(snapshot_reader())]
    try:
        while min(seen["statement"], seen["snapshot"]) < 1:
            await asyncio.sleep(0.01)
        report = CompressionReport()
        async with ts.pool.acquire() as conn:
            await compress_day(conn, partition, 24, report)  # type: ignore[arg-type]
        before = dict(seen)
        while seen["snapshot"] <= before["snapshot"] or seen["statement"] <= before["statement"]:
            await asyncio.sleep(0.01)
    finally:
        done.set()
        await asyncio.gather(*readers)
    assert report.readings == len(EXPECTED) * PER_SERIES and report.groups > 1
    assert not wrong, [(kind, {k: v for k, v in got.items() if v != PER_SERIES}) for kind, got in wrong[:3]]
    assert await _counts(ts.pool) == EXPECTED


async def test_a_snapshot_held_too_long_postpones_the_truncate_to_the_next_run(ts: TimeSeries) -> None:
    await _seed(ts)
    partition = await _partition(ts)
    reader = await ts.pool.acquire()
    try:
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            await reader.fetchval("SELECT count(*) FROM readings_packed")
            async with ts.pool.acquire() as conn:
                await compress_day(conn, partition, 4, CompressionReport(), snapshot_wait_s=0.3)  # type: ignore[arg-type]
            assert await _counts(reader) == EXPECTED  # the raw rows, still there for this snapshot
    finally:
        await ts.pool.release(reader)
    name = partition.name  # type: ignore[attr-defined]
    assert await ts.pool.fetchval("SELECT pg_relation_size($1::regclass)", name) > 0  # not truncated yet
    again = CompressionReport()
    async with ts.pool.acquire() as conn:
        await compress_day(conn, partition, 4, again)  # type: ignore[arg-type]
    assert (again.readings, again.days) == (0, [])
    assert await ts.pool.fetchval("SELECT pg_relation_size($1::regclass)", name) == 0
    assert await _counts(ts.pool) == EXPECTED
