"""The Parquet archive on every engine: what a real reader (DuckDB) finds after retention dropped a
day is what the database answered before; restore brings the day back once; an interrupted or
damaged archive is redone and never lets retention drop the day."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sensorhub.cli import main
from sensorhub.timeseries.archive import ArchiveSink, DirectorySink, archive_day, device_group, read_manifest
from sensorhub.timeseries.archive_format import manifest_key
from sensorhub.timeseries.archive_restore import RestoreError, restore_day
from sensorhub.timeseries.maintenance import MaintenancePolicy, run_once

from tests.timeseries.conftest import NOW, TimeSeries, reading

TODAY = datetime(2030, 1, 10, tzinfo=UTC)
DAY = TODAY - timedelta(days=35)  # past raw retention (30 days)
KEPT = TODAY - timedelta(days=29)
DEVICES = tuple(f"dev-{i:02d}" for i in range(6))
METRICS = ("temperature", "humidity")
POLICY = MaintenancePolicy(
    raw_retention_days=30, rollup_retention_days=60, partitions_ahead_days=1, rollup_batch_hours=1000, archive_groups=4
)

PER_SERIES = """
SELECT device_id, metric, count(*) AS n, min(value), max(value), sum(value)
FROM {source} WHERE time >= {lo} AND time < {hi} GROUP BY 1, 2 ORDER BY 1, 2
"""
PER_HOUR_PG = """
SELECT device_id, metric, floor(extract(epoch FROM time) / 3600)::bigint AS hour,
       count(*), min(value), max(value), sum(value)
FROM readings WHERE time >= $1 AND time < $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
PER_HOUR_DUCKDB = """
SELECT device_id, metric, epoch_us(time) // 3600000000 AS hour, count(*), min(value), max(value), sum(value)
FROM {source} WHERE day = ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


async def _seed(ts: TimeSeries) -> None:
    """Irregular readings on an old day and a kept one. Values are multiples of 1/1024 within ±100,
    so every sum is exact in float64 whatever order a reader adds them in."""
    rng = random.Random(15)
    for device in DEVICES:
        await ts.register(device, *METRICS)
    for day in (DAY, KEPT):
        ts.now[0] = day + timedelta(days=1, minutes=1)
        for device in DEVICES:
            rows = []
            for metric in METRICS:
                moment = day + timedelta(seconds=rng.randrange(0, 600))
                while moment < day + timedelta(days=1):
                    rows.append(reading(device, metric, moment, round(rng.uniform(-100, 100) * 1024) / 1024))
                    moment += timedelta(seconds=rng.randrange(60, 900), microseconds=rng.randrange(0, 10**6))
            await ts.send(rows)
    ts.now[0] = NOW


async def _database_aggregates(ts: TimeSeries) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    end = DAY + timedelta(days=1)
    per_series = await ts.pool.fetch(PER_SERIES.format(source="readings", lo="$1", hi="$2"), DAY, end)
    per_hour = await ts.pool.fetch(PER_HOUR_PG, DAY, end)
    return [tuple(r) for r in per_series], [tuple(r) for r in per_hour]


def _duckdb_aggregates(files: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    con = duckdb.connect()
    source = f"read_parquet({files!r}, hive_partitioning = true)"
    lo, hi = f"TIMESTAMPTZ '{DAY.isoformat()}'", f"TIMESTAMPTZ '{(DAY + timedelta(days=1)).isoformat()}'"
    per_series = con.execute(PER_SERIES.format(source=source, lo=lo, hi=hi)).fetchall()
    per_hour = con.execute(PER_HOUR_DUCKDB.format(source=source), [DAY.date()]).fetchall()
    return per_series, per_hour


async def _maintain(ts: TimeSeries, sink: ArchiveSink, policy: MaintenancePolicy = POLICY) -> Any:
    async with ts.pool.acquire() as conn:
        return await run_once(conn, ts.store, policy, archive=sink, now=NOW)


async def _rows_of(ts: TimeSeries, day: datetime) -> list[tuple[Any, ...]]:
    rows = await ts.pool.fetch(
        "SELECT device_id, metric, time, value FROM readings WHERE time >= $1 AND time < $2 ORDER BY 1, 2, 3",
        day,
        day + timedelta(days=1),
    )
    return [tuple(r) for r in rows]


async def test_a_parquet_reader_gets_the_aggregates_the_database_gave(ts: TimeSeries, tmp_path: Path) -> None:
    await _seed(ts)
    per_series, per_hour = await _database_aggregates(ts)
    assert len(per_series) == len(DEVICES) * len(METRICS) and len(per_hour) == 24 * len(per_series)
    report = await _maintain(ts, DirectorySink(tmp_path))
    assert report.archived_rows == sum(r[2] for r in per_series)
    assert await _rows_of(ts, DAY) == []  # dropped

    manifest = json.loads((tmp_path / manifest_key(DAY.date())).read_text())
    listed = [str(tmp_path / f["key"]) for f in manifest["files"]]
    globbed = sorted(str(p) for p in (tmp_path / "readings").glob("day=*/group=*/*.parquet"))
    assert sorted(listed) == globbed  # the manifest finds every file, and nothing else is there
    assert _duckdb_aggregates(listed) == (per_series, per_hour)
    assert manifest["rows"] == report.archived_rows == sum(f["rows"] for f in manifest["files"])

    # Hive partitions: each file holds exactly its group's devices; the reader sees day and group.
    con = duckdb.connect()
    groups = con.execute(
        f"SELECT DISTINCT device_id, \"group\"::int, day FROM read_parquet({listed!r}, hive_partitioning = true)"
    ).fetchall()
    assert {(d, g) for d, g, _ in groups} == {(d, device_group(d, POLICY.archive_groups)) for d in DEVICES}
    assert {day for _, _, day in groups} == {DAY.date()}


async def test_parquet_files_have_the_documented_types_compression_and_order(ts: TimeSeries, tmp_path: Path) -> None:
    await _seed(ts)
    await _maintain(ts, DirectorySink(tmp_path))
    manifest = await read_manifest(DirectorySink(tmp_path), DAY.date())
    assert manifest is not None and manifest.files
    for file in manifest.files:
        parquet = pq.ParquetFile(tmp_path / file.key)
        schema = parquet.schema_arrow
        assert schema.field("time").type == pa.timestamp("us", tz="UTC")
        assert schema.field("value").type == pa.float64()
        assert pa.types.is_dictionary(schema.field("device_id").type)
        assert pa.types.is_dictionary(schema.field("metric").type)
        row_group = parquet.metadata.row_group(0)
        assert {row_group.column(i).compression for i in range(4)} == {"ZSTD"}
        assert [schema.names[c.column_index] for c in row_group.sorting_columns] == ["device_id", "metric", "time"]
        rows = parquet.read().to_pylist()
        keys = [(r["device_id"], r["metric"], r["time"]) for r in rows]
        assert keys == sorted(keys) and len(keys) == file.rows
        assert rows[0]["time"].tzinfo is not None and rows[0]["time"].microsecond is not None


async def test_restore_brings_the_day_back_once(ts: TimeSeries, tmp_path: Path) -> None:
    await _seed(ts)
    before = await _rows_of(ts, DAY)
    sink = DirectorySink(tmp_path)
    await _maintain(ts, sink)
    assert await _rows_of(ts, DAY) == []
    async with ts.pool.acquire() as conn:
        progress: list[str] = []
        first = await restore_day(conn, ts.store.engine, sink, DAY.date(), lambda f: progress.append(f.key))
        assert await _rows_of(ts, DAY) == before
        assert sum(f.inserted for f in first) == len(before) and len(progress) == len(first)
        again = await restore_day(conn, ts.store.engine, sink, DAY.date())
        assert [f.inserted for f in again] == [0] * len(first)
        # Rows still there are kept once; only missing ones come back.
        deleted = await conn.execute(
            "DELETE FROM readings WHERE device_id = $1 AND time >= $2 AND time < $2 + interval '1 day'",
            DEVICES[0],
            DAY,
        )
        third = await restore_day(conn, ts.store.engine, sink, DAY.date())
        assert sum(f.inserted for f in third) == int(deleted.split()[-1]) > 0
        with pytest.raises(RestoreError, match="no complete archive of 2029-12-01"):
            await restore_day(conn, ts.store.engine, sink, date(2029, 12, 1))
    assert await _rows_of(ts, DAY) == before


@dataclass
class FailingSink:
    """A directory sink whose ``fail_at``-th put (1-based) raises, as a crash mid-upload would."""

    inner: DirectorySink
    fail_at: int
    puts: list[str] = field(default_factory=list)

    def location(self, key: str) -> str:
        return self.inner.location(key)

    async def put(self, key: str, data: bytes) -> None:
        self.puts.append(key)
        if len(self.puts) == self.fail_at:
            raise ConnectionError(f"upload of {key} interrupted")
        await self.inner.put(key, data)

    async def get(self, key: str) -> bytes | None:
        return await self.inner.get(key)

    async def sizes(self, prefix: str) -> dict[str, int]:
        return await self.inner.sizes(prefix)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)


@pytest.mark.parametrize("fail_at", [1, 3, 5])  # first part, a middle part, the manifest (4 groups)
async def test_an_interrupted_archive_is_never_taken_for_complete_and_retention_waits(
    ts: TimeSeries, tmp_path: Path, fail_at: int
) -> None:
    await _seed(ts)
    before = await _rows_of(ts, DAY)
    per_series, per_hour = await _database_aggregates(ts)
    crashing = FailingSink(DirectorySink(tmp_path), fail_at)
    with pytest.raises(ConnectionError):
        await _maintain(ts, crashing, POLICY)
    assert await _rows_of(ts, DAY) == before  # not dropped
    assert await read_manifest(crashing.inner, DAY.date()) is None  # nothing a reader takes for complete
    # Redone with another number of groups: leftovers of the first attempt are removed, not doubled.
    report = await _maintain(ts, DirectorySink(tmp_path), POLICY.__class__(**{**POLICY.__dict__, "archive_groups": 3}))
    assert report.archived_rows == len(before) and await _rows_of(ts, DAY) == []
    manifest = await read_manifest(DirectorySink(tmp_path), DAY.date())
    assert manifest is not None and manifest.device_groups == 3
    globbed = sorted(str(p) for p in tmp_path.glob("readings/day=*/group=*/*.parquet"))
    assert globbed == sorted(str(tmp_path / f.key) for f in manifest.files)
    assert not list(tmp_path.rglob(".*.partial"))
    assert _duckdb_aggregates(globbed) == (per_series, per_hour)


async def test_a_manifest_with_missing_files_or_unreadable_is_redone(ts: TimeSeries, tmp_path: Path) -> None:
    await _seed(ts)
    sink = DirectorySink(tmp_path)
    async with ts.pool.acquire() as conn:
        (partition,) = [p for p in await ts.store.engine.partitions(conn) if p.start == DAY]
        rows = await archive_day(conn, sink, partition, 4)
        assert await archive_day(conn, sink, partition, 4) == 0  # complete: not written again
        manifest = await read_manifest(sink, DAY.date())
        assert manifest is not None
        (tmp_path / manifest.files[0].key).unlink()
        assert await archive_day(conn, sink, partition, 4) == rows  # redone
        (tmp_path / manifest.files[1].key).write_bytes(b"truncated")
        assert await archive_day(conn, sink, partition, 4) == rows
        (tmp_path / manifest_key(DAY.date())).write_text('{"format": "sensorhub-readings-parquet", "ver')
        assert await archive_day(conn, sink, partition, 4) == rows
        archived = await conn.fetchval("SELECT sum(rows) FROM readings_archive WHERE day = $1", DAY.date())
    assert (tmp_path / manifest.files[1].key).stat().st_size == manifest.files[1].bytes
    assert archived == rows


async def test_the_restore_command_prints_progress_and_is_idempotent(ts: TimeSeries, tmp_path: Path) -> None:
    await _seed(ts)
    before = await _rows_of(ts, DAY)
    await _maintain(ts, DirectorySink(tmp_path))
    env = {"SENSORHUB_DATABASE_URL": ts.url, "SENSORHUB_ARCHIVE_URL": f"file://{tmp_path}"}
    runner = CliRunner()
    args = ["archive", "restore", "--day", DAY.date().isoformat()]
    first = await asyncio.to_thread(runner.invoke, main, args, env=env)
    assert first.exit_code == 0, first.output
    assert "[1/4] readings/day=2029-12-06/group=0000/part-00000.parquet" in first.output
    assert f"restored 2029-12-06: {len(before)} rows read, {len(before)} inserted, 4 files" in first.output
    second = await asyncio.to_thread(runner.invoke, main, args, env=env)
    assert f"{len(before)} rows read, 0 inserted" in second.output
    assert await _rows_of(ts, DAY) == before
    missing = await asyncio.to_thread(runner.invoke, main, ["archive", "restore", "--day", "2029-11-30"], env=env)
    assert missing.exit_code == 1 and "no complete archive of 2029-11-30" in missing.output
