"""Maintenance on every engine: partitions ahead, rollups kept while raw days are dropped, archive, replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from sensorhub.db import connect
from sensorhub.timeseries import maintenance, queries
from sensorhub.timeseries.archive import DirectorySink
from sensorhub.timeseries.maintenance import MaintenancePolicy, run_once
from sensorhub.timeseries.store import BucketSpec, SeriesRange

from tests.timeseries.conftest import NOW, TimeSeries, reading

TODAY = datetime(2030, 1, 10, tzinfo=UTC)
POLICY = MaintenancePolicy(
    raw_retention_days=30, rollup_retention_days=33, partitions_ahead_days=3, rollup_batch_hours=100, archive_groups=2
)
OLD_DAYS = (35, 32, 29)  # days before today: 35 and 32 are past raw retention, 29 is kept


async def _seed_old_days(ts: TimeSeries) -> list[tuple[str, str, datetime, float]]:
    await ts.register("d1", "temp")
    await ts.register("d2", "temp")
    rows = []
    for back in OLD_DAYS:
        ts.now[0] = TODAY - timedelta(days=back) + timedelta(hours=12)
        batch = [
            reading(d, "temp", TODAY - timedelta(days=back) + timedelta(hours=h), float(h + back))
            for d in ("d1", "d2")
            for h in (1, 2, 2.5)
        ]
        await ts.send(batch)
        rows += batch
    ts.now[0] = NOW
    return rows


async def test_partitions_exist_ahead_of_time(ts: TimeSeries) -> None:
    async with ts.pool.acquire() as conn:
        report = await run_once(conn, ts.store, POLICY, now=NOW)
        parts = await ts.store.engine.partitions(conn)
    assert report.ran
    if ts.store.info.name == "postgres":
        days = [p.start for p in parts]
        assert days == [TODAY + timedelta(days=i) for i in range(4)]
        assert len(report.partitions_created) == 4
        async with ts.pool.acquire() as conn:  # idempotent
            assert (await run_once(conn, ts.store, POLICY, now=NOW)).partitions_created == []
    else:  # hypertable chunks are created by the first insert into their range
        assert parts == []
        assert report.partitions_created == []


async def test_retention_drops_old_raw_days_and_keeps_rollups(ts: TimeSeries, tmp_path: Path) -> None:
    await _seed_old_days(ts)
    async with ts.pool.acquire() as conn:
        report = await run_once(conn, ts.store, POLICY, archive=DirectorySink(tmp_path), now=NOW)
    assert report.ran
    assert len(report.partitions_dropped) == 2
    assert report.hours_rolled_up == 2 * 3 * 2  # 3 days x 2 hours x 2 devices
    assert report.archived_rows == 2 * 2 * 3  # 2 dropped days x 2 devices x 3 readings
    assert report.rollup_rows_deleted == 4  # the day 35 days back is past rollup retention
    stored = await ts.stored()
    assert {t.date() for _, _, t, _ in stored} == {(TODAY - timedelta(days=29)).date()}
    # The day 32 days back: raw is gone, its rollups still answer hourly buckets.
    day = TODAY - timedelta(days=32)
    spec = BucketSpec(queries.parse_bucket("1h"), ("count", "avg", "first", "last"), "none")
    async with ts.pool.acquire() as conn:
        raw = await ts.store.raw(conn, SeriesRange("d1", "temp", day, day + timedelta(days=1)), 10)
        hourly = await ts.store.buckets(conn, SeriesRange("d1", "temp", day, day + timedelta(days=1)), spec)
        hourly_rows = await conn.fetchval("SELECT count(*) FROM readings_hourly")
    assert raw == []
    assert hourly == [
        {"time": day + timedelta(hours=1), "count": 1, "avg": 33.0, "first": 33.0, "last": 33.0},
        {"time": day + timedelta(hours=2), "count": 2, "avg": 34.25, "first": 34.0, "last": 34.5},
    ]
    assert hourly_rows == 8  # days 32 and 29
    # The archive holds exactly the dropped rows, one Parquet file per day and device group.
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files and all(f.startswith("readings/day=2029-12-") for f in files)
    archived = pq.ParquetDataset(tmp_path / "readings", partitioning="hive").read().to_pylist()
    assert len(archived) == 12
    assert {r["device_id"] for r in archived} == {"d1", "d2"}
    # Running again does nothing more.
    async with ts.pool.acquire() as conn:
        again = await run_once(conn, ts.store, POLICY, archive=DirectorySink(tmp_path), now=NOW)
    assert (again.partitions_dropped, again.archived_rows, again.hours_rolled_up) == ([], 0, 0)


async def test_two_replicas_run_safely_and_one_skips_while_the_other_holds_the_lock(ts: TimeSeries) -> None:
    await _seed_old_days(ts)
    holder = await connect(ts.url)
    other = await connect(ts.url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", maintenance.LEADER_LOCK)
        assert not (await run_once(other, ts.store, POLICY, now=NOW)).ran
        await holder.execute("SELECT pg_advisory_unlock($1)", maintenance.LEADER_LOCK)
        # Two replicas at once: at most one runs at a time, neither fails, the end state is complete.
        reports = await asyncio.gather(
            run_once(holder, ts.store, POLICY, now=NOW), run_once(other, ts.store, POLICY, now=NOW)
        )
        assert any(r.ran for r in reports)
        assert sum(len(r.partitions_dropped) for r in reports) == 2
    finally:
        await holder.close()
        await other.close()
    assert {t.date() for _, _, t, _ in await ts.stored()} == {(TODAY - timedelta(days=29)).date()}


async def test_ingest_creates_missing_partitions_and_rejects_what_retention_would_drop(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    result = await ts.send(
        [reading("d1", "temp", NOW - timedelta(days=20), 1.0), reading("d1", "temp", NOW - timedelta(days=31), 1.0)]
    )
    assert result.accepted == 1
    assert [r.reason for r in result.rejected] == ["too_old"]
