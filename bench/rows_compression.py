"""Compression rows: bytes per reading of a sealed day raw vs packed, compression throughput, and the
1-day 1-minute bucket query over a packed day vs the same query over a raw day, in the same run."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sensorhub.timeseries.compression import CompressionReport, compress_day
from sensorhub.timeseries.engines import Partition
from sensorhub.timeseries.store import BucketSpec, SeriesRange, TimeSeriesStore

from bench.context import Context
from bench.core import Check, Measurement, RowResult, ceiling_check, interleave, peak_rss_mb, reset_peak_rss, summaries
from bench.rows_timeseries import timed_buckets

TARGET = ("bench-compress-target", "temperature")
GROUPS = 16

# The simulator's series (sine + noise, 3 decimals, 2 % gaps), ``$3`` readings a day per series,
# over 1,000 devices x 3 metrics; and the target series every 10 s (the bucket query's series).
_FILL = """
INSERT INTO readings (device_id, metric, time, value)
SELECT 'sim-' || lpad(d::text, 4, '0'), m.name, $1::timestamptz + make_interval(secs => t * 86400.0 / $3::int),
       round((m.base + m.amp * sin(t * 2 * pi() / $3::int + d)
              + m.noise * (random() + random() + random() + random() - 2.0))::numeric, 3)::float8
FROM generate_series(1, $2::int) d,
     (VALUES ('temperature', 21.0, 4.0, 0.3), ('humidity', 45.0, 10.0, 1.0), ('pressure', 1.5, 0.1, 0.01))
         AS m(name, base, amp, noise),
     generate_series(0, $3::int - 1) t
WHERE random() >= 0.02
"""
_TARGET_FILL = """
INSERT INTO readings (device_id, metric, time, value)
SELECT $2, $3, t, round((21 + 4 * sin(extract(epoch FROM t) / 13751) + random())::numeric, 3)::float8
FROM generate_series($1::timestamptz, $1 + interval '1 day' - interval '10 s', interval '10 s') t
"""


async def _partition(ctx: Context, store: TimeSeriesStore, day: datetime) -> Partition:
    async with ctx.pool.acquire() as conn:
        return next(p for p in await store.engine.partitions(conn) if p.start == day)


async def _day_bytes(ctx: Context, store: TimeSeriesStore, day: datetime) -> int:
    part = await _partition(ctx, store, day)
    return int(await ctx.pool.fetchval("SELECT pg_total_relation_size($1::regclass)", part.name))


async def compression(ctx: Context) -> list[RowResult]:
    sz = ctx.sizes
    devices = max(1, sz.series // 3)
    per_day = min(1440, max(24, sz.readings // (devices * 3)))
    async with ctx.pool.acquire() as conn:
        store = await TimeSeriesStore.open(conn)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    raw_day, packed_day = today - timedelta(days=4), today - timedelta(days=3)
    async with ctx.pool.acquire() as conn:
        await store.ensure_days(conn, [raw_day.date(), packed_day.date()])
        for day in (raw_day, packed_day):
            await conn.execute(_FILL, day, devices, per_day)
            await conn.execute(_TARGET_FILL, day, *TARGET)
        await conn.execute("VACUUM (ANALYZE) readings")
        readings = int(
            await conn.fetchval("SELECT count(*) FROM readings WHERE time >= $1 AND time < $2", packed_day,
                                packed_day + timedelta(days=1))
        )
    raw_bytes = await _day_bytes(ctx, store, packed_day)

    reset_peak_rss()
    report = CompressionReport()
    started = time.perf_counter()
    async with ctx.pool.acquire() as conn:
        await compress_day(conn, await _partition(ctx, store, packed_day), GROUPS, report)
    seconds = time.perf_counter() - started
    packing = Measurement(report.groups, seconds, report.readings, [], peak_rss_mb())
    async with ctx.pool.acquire() as conn:
        await conn.execute("VACUUM (ANALYZE) readings_packed")
        await conn.execute("VACUUM (ANALYZE) readings")
        packed_bytes = int(await conn.fetchval("SELECT pg_total_relation_size('readings_packed')"))
    left_bytes = await _day_bytes(ctx, store, packed_day)
    assert report.readings == readings, (report.readings, readings)
    size = RowResult(
        "compression, bytes per reading",
        ctx.engine,
        f"one sealed day of {devices * 3:,} simulator series ({per_day} readings a day each) + one series every "
        f"10 s: {readings:,} readings, packed in {GROUPS} device-group transactions",
        summaries({"compress (readings/s)": [packing]}),
        [],
        notes=[
            f"raw: {raw_bytes / readings:.1f} bytes/reading (heap + primary key), packed: "
            f"{packed_bytes / readings:.2f} bytes/reading (heap + TOAST + indexes); the emptied raw partition "
            f"keeps {left_bytes:,} bytes (truncated once no raw row is left)",
        ],
    )
    factor = raw_bytes / packed_bytes if packed_bytes else float("inf")
    size.checks = [
        Check("smaller than raw, incl. indexes", "≥ 10x", f"{factor:.1f}x", factor >= 10),
        Check("every reading packed", f"{readings:,}", f"{report.readings:,}", report.readings == readings),
    ]

    spec = BucketSpec(timedelta(minutes=1), ("avg", "min", "max", "count"), "none")

    def query(day: datetime) -> Callable[[int], Awaitable[Measurement]]:
        return timed_buckets(ctx, store, SeriesRange(TARGET[0], TARGET[1], day, day + timedelta(days=1)), spec)

    runs = await interleave(sz.rounds, {"raw day": query(raw_day), "compressed day": query(packed_day)})
    bucket = RowResult(
        "compression, bucket query",
        ctx.engine,
        f"one series (every 10 s), 1 day in 1-minute buckets (avg, min, max, count): a packed day vs a raw day "
        f"of the same shape, {sz.bucket_queries} sequential queries per round, interleaved",
        summaries(runs),
        [],
    )
    raw_p95, packed_p95 = bucket.variant("raw day").p95_ms, bucket.variant("compressed day").p95_ms
    ratio = packed_p95 / raw_p95 if raw_p95 and packed_p95 else None
    bucket.checks = [ceiling_check("p95 compressed / raw", ratio, 1.5, "x")]
    return [size, bucket]


ROWS = {"compression": compression}
