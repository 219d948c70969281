"""Sealed-day compression on every engine: the job packs only sealed days and changes no answer;
late and duplicate readings for a packed day; the day lock against a concurrent ingest; detection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sensorhub.db import connect
from sensorhub.timeseries import compression, queries, rollups
from sensorhub.timeseries.engines import EngineInfo
from sensorhub.timeseries.maintenance import MaintenancePolicy, run_once
from sensorhub.timeseries.store import BucketSpec, Reading, SeriesRange, TimeSeriesStore

from tests.timeseries.conftest import NOW, TimeSeries, reading

TODAY = datetime(2030, 1, 10, tzinfo=UTC)
POLICY = MaintenancePolicy(
    raw_retention_days=30,
    rollup_retention_days=60,
    partitions_ahead_days=1,
    rollup_batch_hours=1000,
    archive_groups=4,
    compress_after_days=2,
)
DEVICES = [f"d{i}" for i in range(8)]


@pytest.fixture
def storage() -> str:
    """These tests compress by running the job themselves."""
    return "raw"


async def _seed(ts: TimeSeries) -> None:
    """Days 4, 3, 2 and 1 back and today: every 20 minutes, 8 devices x 2 metrics, with a gap."""
    for device in DEVICES:
        await ts.register(device, "temp", "hum")
    for back in (4, 3, 2, 1, 0):
        day = TODAY - timedelta(days=back)
        ts.now[0] = day + timedelta(hours=23, minutes=59)
        batch = [
            reading(d, m, day + timedelta(minutes=20 * k, microseconds=7 * k), (k * 37 % 101) / 8 - 3 + i)
            for i, d in enumerate(DEVICES)
            for m in ("temp", "hum")
            for k in range(72)
            if not (d == "d3" and 10 <= k < 20)
        ]
        await ts.send(batch)
    ts.now[0] = NOW


async def _answers(ts: TimeSeries) -> dict[str, Any]:
    """What the API can be asked, over the whole seeded range."""
    start, end = TODAY - timedelta(days=4, hours=1), TODAY + timedelta(days=1)
    out: dict[str, Any] = {"stored": await ts.stored()}
    async with ts.pool.acquire() as conn:
        for width in ("1m", "7m", "1h", "3h", "1d"):
            for fill in ("none", "linear"):
                spec = BucketSpec(queries.parse_bucket(width), queries.AGGREGATES, queries.parse_fill(fill))
                # 1-minute buckets over one day that gets packed, the others over every seeded day.
                first = TODAY - timedelta(days=3) if width == "1m" else start
                last = TODAY - timedelta(days=2) if width == "1m" else end
                out[f"{width}/{fill}"] = await ts.store.buckets(conn, SeriesRange("d3", "temp", first, last), spec)
        out["raw"] = await ts.store.raw(conn, SeriesRange("d5", "hum", start, end), 10_000)
        out["latest"] = sorted(tuple(r) for r in await ts.store.latest_of_devices(conn, DEVICES))
        out["since"] = await ts.store.count_since(conn, DEVICES, TODAY - timedelta(days=2, hours=5))
    return out


async def _raw_days(ts: TimeSeries) -> list[str]:
    rows = await ts.pool.fetch("SELECT DISTINCT (time AT TIME ZONE 'UTC')::date AS day FROM readings ORDER BY 1")
    return [r["day"].isoformat() for r in rows]


async def test_the_job_packs_sealed_days_only_and_every_answer_stays_the_same(ts: TimeSeries) -> None:
    await _seed(ts)
    before = await _answers(ts)
    async with ts.pool.acquire() as conn:
        report = await run_once(conn, ts.store, POLICY, now=NOW)
    # Days wholly older than 2 days at 12:00 on the 10th: the 6th and 7th (the 8th ends at 00:00 on the 9th).
    assert report.days_compressed == ["2030-01-06", "2030-01-07"]
    assert report.readings_compressed == 2 * (16 * 72 - 20)
    assert await _raw_days(ts) == ["2030-01-08", "2030-01-09", "2030-01-10"]
    packed = await ts.pool.fetch("SELECT day, count(*) AS series, sum(count) AS n FROM readings_packed GROUP BY 1")
    assert sorted((r["day"].isoformat(), r["series"], r["n"]) for r in packed) == [
        ("2030-01-06", 16, 16 * 72 - 20),
        ("2030-01-07", 16, 16 * 72 - 20),
    ]
    progress = await ts.pool.fetch("SELECT day, device_group, readings FROM readings_compression")
    assert sum(r["readings"] for r in progress) == report.readings_compressed
    assert len({r["device_group"] for r in progress}) > 1  # one transaction per device group
    async with ts.pool.acquire() as conn:
        parts = await ts.store.engine.partitions(conn)
        storage = await compression.storage_report(conn, compression.method_for(ts.store.info), parts)
    assert storage.method == "packed" and storage.days_compressed == 2
    assert {d.day.isoformat(): d.packed_readings for d in storage.days if d.packed_readings} == {
        "2030-01-06": 1132,
        "2030-01-07": 1132,
    }
    assert all(d.packed_bytes > 0 for d in storage.days if d.packed_readings)
    # The emptied raw partitions were given back (truncated): a few pages at most.
    assert all(d.raw_bytes <= 64 * 1024 for d in storage.days if d.packed_readings)
    assert await _answers(ts) == before
    async with ts.pool.acquire() as conn:  # nothing left to do
        again = await run_once(conn, ts.store, POLICY, now=NOW)
        off = await run_once(conn, ts.store, POLICY.__class__(**{**POLICY.__dict__, "compress_after_days": 0}),
                             now=NOW + timedelta(days=5))
    assert (again.days_compressed, again.readings_compressed) == ([], 0)
    assert off.days_compressed == []
    assert await _answers(ts) == before


async def test_late_and_duplicate_readings_for_a_packed_day(ts: TimeSeries) -> None:
    await _seed(ts)
    async with ts.pool.acquire() as conn:
        await run_once(conn, ts.store, POLICY, now=NOW)
    day = TODAY - timedelta(days=4)
    stored = await ts.stored()
    packed_reading = next(r for r in stored if r[0] == "d1" and r[2] >= day + timedelta(hours=3))
    # A duplicate of a packed reading (another value: a correction is a duplicate, first write wins),
    # a new late reading, and the same late reading twice in one batch.
    late = day + timedelta(hours=3, minutes=1, microseconds=1)
    result = await ts.send(
        [
            reading(packed_reading[0], packed_reading[1], packed_reading[2], 999.0),
            reading("d1", "temp", late, 55.5),
            reading("d1", "temp", late, 66.6),
        ]
    )
    assert (result.accepted, result.duplicates) == (1, 2)
    expected = sorted([*stored, ("d1", "temp", late, 55.5)])
    assert await ts.stored() == expected
    # Visible at once, in raw ranges and in buckets (its hour's rollup is marked stale).
    spec = BucketSpec(queries.parse_bucket("1h"), ("count", "max", "last"), "none")
    hour = SeriesRange("d1", "temp", day + timedelta(hours=3), day + timedelta(hours=4))
    async with ts.pool.acquire() as conn:
        raw = await ts.store.raw(conn, hour, 100)
        assert (late, 55.5) in [(p.time, p.value) for p in raw]
        assert (await ts.store.buckets(conn, hour, spec))[0]["max"] == 55.5
    again = await ts.send([reading("d1", "temp", late, 1.0)])  # a duplicate of the raw late row
    assert (again.accepted, again.duplicates) == (0, 1)
    assert await ts.stored() == expected
    # The next run folds it into the packed row; rollups are exact.
    async with ts.pool.acquire() as conn:
        report = await run_once(conn, ts.store, POLICY, now=NOW)
        assert report.readings_compressed == 1
        assert await rollups.refresh(conn, batch=1000) == 0
        folded = await conn.fetchval(
            "SELECT count FROM readings_packed WHERE device_id = 'd1' AND metric = 'temp' AND day = $1", day.date()
        )
        hourly = await conn.fetchrow(
            "SELECT count, max, last_value FROM readings_hourly WHERE device_id = 'd1' AND metric = 'temp' "
            "AND bucket = $1",
            day + timedelta(hours=3),
        )
        assert (await ts.store.buckets(conn, hour, spec))[0]["max"] == 55.5
    assert "2030-01-06" not in await _raw_days(ts)
    assert folded == 73
    assert hourly is not None and (hourly["count"], hourly["max"]) == (4, 55.5)
    assert await ts.stored() == expected


@pytest.mark.parametrize("direct", [False, True], ids=["merge", "direct"])
async def test_an_ingest_racing_the_compression_of_its_day_stores_each_reading_once(
    ts: TimeSeries, direct: bool
) -> None:
    """The compression of a day holds that day's lock: a write of a duplicate waits for it, then sees
    the packed reading. (Without the lock the write would wait on the raw row being deleted, then
    insert its copy after the delete commits: the reading twice, once raw and once packed.) A direct
    write sees the day packed once it has the lock, and merges."""
    await ts.register("d1", "temp")
    day = TODAY - timedelta(days=4)
    ts.now[0] = day + timedelta(hours=12)
    await ts.send([reading("d1", "temp", day + timedelta(hours=1), 1.0)])
    async with ts.pool.acquire() as packer, ts.pool.acquire() as writer:
        async with packer.transaction():
            await packer.execute("SELECT pg_advisory_xact_lock($1, $2)", compression.DAY_LOCK,
                                 compression.day_number(day.date()))
            await packer.fetchrow(compression._PACK, ["d1"], day, day.date())  # pyright: ignore[reportPrivateUsage]

            async def write() -> Any:
                async with writer.transaction():
                    return await ts.store.write(
                        writer, [Reading("d1", "temp", day + timedelta(hours=1), 2.0)], direct=direct
                    )

            task = asyncio.create_task(write())
            for _ in range(500):
                if await ts.pool.fetchval(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", writer.get_server_pid()
                ) == "Lock":
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the write never waited for the compression")
        outcome = await task
    assert (outcome.inserted, outcome.duplicates) == (0, 1)
    assert await ts.stored() == [("d1", "temp", day + timedelta(hours=1), 1.0)]


def test_the_columnstore_is_chosen_only_under_the_timescale_licence() -> None:
    assert compression.method_for(EngineInfo("timescaledb", "2.19.0", "timescale")) == "columnstore"
    assert compression.method_for(EngineInfo("timescaledb", "2.19.0", "apache")) == "packed"
    assert compression.method_for(EngineInfo("postgres", None, None)) == "packed"


async def test_the_servers_here_get_the_packed_layout(ts: TimeSeries) -> None:
    assert compression.method_for(ts.store.info) == "packed"
    if ts.store.info.name == "timescaledb":
        assert ts.store.info.timescaledb_license == "apache"


async def test_the_apache_edition_refuses_the_columnstore_path_at_its_licence_check(database_url: str) -> None:
    """The closest this machine gets to running the columnstore path: the Apache server (the
    TimescaleDB cluster) answers the catalog query and stops at its licence gate, behind which it
    validates nothing."""
    conn = await connect(database_url)
    try:
        store = await TimeSeriesStore.open(conn)
        assert store.info.timescaledb_license == "apache"
        await conn.execute("INSERT INTO readings VALUES ('d1', 'temp', $1, 1.0)", NOW - timedelta(days=3))
        parts = await store.engine.partitions(conn)
        with pytest.raises(asyncpg.FeatureNotSupportedError, match="apache"):
            await compression.compress_columnstore(conn, parts, compression.CompressionReport())
    finally:
        await conn.close()
