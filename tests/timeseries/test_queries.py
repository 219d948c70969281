"""Queries on every engine: raw ranges, buckets with every aggregate and fill, rollups = raw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sensorhub.timeseries import queries, rollups
from sensorhub.timeseries.store import BucketSpec, SeriesRange

from tests.timeseries.conftest import TimeSeries, reading

DAY = datetime(2030, 1, 10, tzinfo=UTC)
ALL = ("avg", "min", "max", "count", "sum", "first", "last")


def _data() -> list[tuple[datetime, float]]:
    """Every 10 minutes for 6 hours, nothing in hour 2, values in halves (exact in binary)."""
    points = []
    for i in range(36):
        t = DAY + timedelta(minutes=10 * i)
        if t.hour != 2:
            points.append((t, (i % 7) * 0.5 - 1.0))
    return points


def _expected(points: list[tuple[datetime, float]], start: datetime, end: datetime, width: timedelta) -> list[dict]:
    out: dict[datetime, list[float]] = {}
    for t, v in points:
        if start <= t < end:
            bucket = DAY + ((t - DAY) // width) * width
            out.setdefault(bucket, []).append(v)
    return [
        {
            "time": b,
            "avg": sum(v) / len(v),
            "min": min(v),
            "max": max(v),
            "count": len(v),
            "sum": sum(v),
            "first": v[0],
            "last": v[-1],
        }
        for b, v in sorted(out.items())
    ]


async def _seed(ts: TimeSeries) -> list[tuple[datetime, float]]:
    await ts.register("d1", "temp")
    points = _data()
    await ts.send([reading("d1", "temp", t, v) for t, v in points])
    return points


async def _buckets(
    ts: TimeSeries, start: datetime, end: datetime, width: str, *, fill: str = "none", aggs: tuple[str, ...] = ALL
) -> list[dict[str, Any]]:
    spec = BucketSpec(queries.parse_bucket(width), aggs, queries.parse_fill(fill))
    async with ts.pool.acquire() as conn:
        return await ts.store.buckets(conn, SeriesRange("d1", "temp", start, end), spec)


async def test_raw_range_is_half_open_and_ordered(ts: TimeSeries) -> None:
    points = await _seed(ts)
    start, end = DAY + timedelta(minutes=50), DAY + timedelta(hours=1, minutes=20)
    async with ts.pool.acquire() as conn:
        raw = await ts.store.raw(conn, SeriesRange("d1", "temp", start, end), 100)
    assert [(p.time, p.value) for p in raw] == [(t, v) for t, v in points if start <= t < end]


@pytest.mark.parametrize("width", ["10m", "30m", "1h", "2h", "1d"])
async def test_buckets_match_a_plain_computation_before_and_after_rollups(ts: TimeSeries, width: str) -> None:
    points = await _seed(ts)
    start, end = DAY + timedelta(minutes=25), DAY + timedelta(hours=5, minutes=35)
    w = queries.parse_bucket(width)
    grid_start = DAY + ((start - DAY) // w) * w
    expected = _expected(points, start, end, w)
    assert expected and all(b["time"] >= grid_start for b in expected)
    assert await _buckets(ts, start, end, width) == expected
    async with ts.pool.acquire() as conn:
        assert await rollups.refresh(conn, batch=2) == 5  # hours 0, 1, 3, 4, 5 (several transactions)
        assert await conn.fetchval("SELECT count(*) FROM rollup_dirty") == 0
    assert await _buckets(ts, start, end, width) == expected
    # A late reading marks its hour stale again: the answer includes it before the next rollup.
    late = (DAY + timedelta(hours=3, minutes=5), 100.0)
    await ts.send([reading("d1", "temp", *late)])
    points = sorted([*points, late])
    assert await _buckets(ts, start, end, width) == _expected(points, start, end, w)
    async with ts.pool.acquire() as conn:
        await rollups.refresh(conn, batch=100)
    assert await _buckets(ts, start, end, width) == _expected(points, start, end, w)


async def test_fill_modes(ts: TimeSeries) -> None:
    await _seed(ts)
    start, end = DAY, DAY + timedelta(hours=7)  # hour 2 and hour 6 are empty
    none = await _buckets(ts, start, end, "1h", fill="none", aggs=("avg", "count"))
    assert [b["time"].hour for b in none] == [0, 1, 3, 4, 5]
    by_hour = {b["time"].hour: b["avg"] for b in none}

    null = await _buckets(ts, start, end, "1h", fill="null", aggs=("avg", "count"))
    assert [(b["time"].hour, b["avg"], b["count"]) for b in null][2] == (2, None, 0)
    assert [b["avg"] for b in null] == [by_hour.get(h) for h in range(7)]

    previous = await _buckets(ts, start, end, "1h", fill="previous", aggs=("avg", "count"))
    assert [b["avg"] for b in previous] == [by_hour[h] for h in (0, 1, 1, 3, 4, 5, 5)]
    assert [b["count"] for b in previous][2] == 0

    linear = await _buckets(ts, start, end, "1h", fill="linear", aggs=("avg", "max"))
    assert linear[2]["avg"] == pytest.approx((by_hour[1] + by_hour[3]) / 2)
    assert linear[6]["avg"] is None  # no later bucket to interpolate towards
    assert [b["avg"] for b in linear][:2] == [by_hour[0], by_hour[1]]


async def test_buckets_are_aligned_to_the_epoch(ts: TimeSeries) -> None:
    await _seed(ts)
    # 5h buckets: 2030-01-10T00:00Z is 526,176 hours after the epoch (≡ 1 mod 5).
    got = await _buckets(ts, DAY, DAY + timedelta(hours=6), "5h", fill="null", aggs=("count",))
    assert [b["time"] for b in got] == [DAY - timedelta(hours=1), DAY + timedelta(hours=4)]
    assert sum(b["count"] for b in got) == len(_data())
    # Weeks start on Thursdays, like 1970-01-01 (not on TimescaleDB's default Monday origin).
    week = await _buckets(ts, DAY, DAY + timedelta(hours=6), "1w", fill="none", aggs=("count",))
    assert [b["time"] for b in week] == [datetime(2030, 1, 10, tzinfo=UTC)]
    assert week[0]["time"].weekday() == 3


async def test_raw_bucket_sums_add_values_in_reading_time_order_whatever_the_storage_order(ts: TimeSeries) -> None:
    """Sub-hour buckets sum float8 values in reading-time order, so the answer does not depend on the
    order rows were stored (or scanned) in: 1e17 + 1 - 1e17 is 0.0 in that order, 1.0 in another."""
    await ts.register("d1", "temp")
    await ts.register("d2", "temp")
    t0, t1, t2 = DAY, DAY + timedelta(minutes=1), DAY + timedelta(minutes=2)
    # d1 stored out of order (the last reading first, in its own transaction), d2 in order.
    await ts.send([reading("d1", "temp", t2, -1e17)])
    await ts.send([reading("d1", "temp", t0, 1e17), reading("d1", "temp", t1, 1.0)])
    await ts.send([reading("d2", "temp", t0, 1e17), reading("d2", "temp", t1, 1.0), reading("d2", "temp", t2, -1e17)])
    in_time_order = (1e17 + 1.0) + -1e17
    assert in_time_order == 0.0
    spec = BucketSpec(queries.parse_bucket("10m"), ("sum", "avg", "count", "first", "last"), "none")
    async with ts.pool.acquire() as conn:
        # A sequential scan returns d1's rows in storage order, not time order (the pool resets this).
        await conn.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
        for device in ("d1", "d2"):
            got = await ts.store.buckets(conn, SeriesRange(device, "temp", DAY, DAY + timedelta(hours=1)), spec)
            assert got == [{"time": DAY, "sum": 0.0, "avg": 0.0, "count": 3, "first": 1e17, "last": -1e17}]


async def test_latest_of_devices_is_the_newest_reading_of_each_of_their_series(ts: TimeSeries) -> None:
    await ts.register("d1", "temp", "hum")
    await ts.register("d2", "temp")
    await ts.register("d3", "temp")
    await ts.send([reading("d1", "temp", DAY + timedelta(minutes=m), float(m)) for m in (5, 1, 3)])
    await ts.send([reading("d1", "hum", DAY, 40.0), reading("d2", "temp", DAY, 7.0), reading("d3", "temp", DAY, 9.0)])
    await ts.send([reading("d1", "temp", DAY + timedelta(minutes=2), 99.0)])  # late: not the newest
    async with ts.pool.acquire() as conn:
        rows = await ts.store.latest_of_devices(conn, ["d1", "d2", "missing"])
    assert sorted(tuple(r) for r in rows) == [
        ("d1", "hum", DAY, 40.0),
        ("d1", "temp", DAY + timedelta(minutes=5), 5.0),
        ("d2", "temp", DAY, 7.0),
    ]
