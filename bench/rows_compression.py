"""Compression rows: bytes per reading of a sealed day raw vs packed, compression throughput, the
1-day 1-minute bucket query over a packed day vs the same query over a raw day, and ingest throughput
with compression running vs ingest alone, all in the same run.

Targets that only mean something at scale (size ratios, latency and throughput ratios) are reported
but not judged at smoke sizes (``judged``): a day of a few thousand readings is mostly per-row
overhead, and ten queries or a sub-second run are noise. Correctness checks are judged at every size."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sensorhub.eventstore.event_types import build_registry
from sensorhub.ingest.catalog import EventStoreDeviceCatalog
from sensorhub.ingest.rows import Parsed
from sensorhub.ingest.service import ReadingsIngest
from sensorhub.settings import Settings
from sensorhub.timeseries.compression import CompressionReport, compress_day
from sensorhub.timeseries.engines import Partition
from sensorhub.timeseries.store import BucketSpec, Reading, SeriesRange, TimeSeriesStore
from sensorhub.timeseries.throttle import DutyCycle

from bench.context import Context
from bench.core import (
    Check,
    Measurement,
    RowResult,
    Sizes,
    ceiling_check,
    interleave,
    peak_rss_mb,
    reset_peak_rss,
    summaries,
)
from bench.rows_timeseries import Batches, ensure_devices, timed_buckets

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


def judged(check: Check, sizes: Sizes) -> Check:
    """``check`` as measured, its verdict withheld at smoke sizes (where the figure is not the target's)."""
    if sizes.name != "smoke":
        return check
    return replace(check, target=f"{check.target} (not judged at smoke sizes)", ok=None)


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
        judged(Check("smaller than raw, incl. indexes", "≥ 10x", f"{factor:.1f}x", factor >= 10), sz),
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
    bucket.checks = [judged(ceiling_check("p95 compressed / raw", ratio, 1.5, "x"), sz)]
    return [size, bucket]


# Ingest with compression running must stay within this fraction of ingest alone. 0.9x is the bar the
# library-ingest rows use against their raw baseline: below it the difference is a real cost, above it
# it is within what interleaved runs of one variant differ by on this shared machine (the row also
# reports that spread, from the "ingest alone" runs, so a reader can see whether 0.9 was noise-sized).
INGEST_RATIO_MIN = 0.9
INGEST_CONNECTIONS = 2
UNTHROTTLED = "ingest while compressing, duty 1 (diagnostic)"


def _median_rate(packed: list[tuple[int, int]], seconds: list[float]) -> float:
    return statistics.median(m / s for (_, m), s in zip(packed, seconds, strict=True) if s > 0) if seconds else 0.0


async def ingest_while_compressing(ctx: Context) -> RowResult:
    """The service's ingest (2 connections, current days) timed alone and with the compression step
    of the maintenance worker packing an older sealed day at the same time, interleaved. Each round
    fills a fresh sealed day first (untimed, for both variants), twice the ingest run's readings, so
    compression (about twice as fast as ingest here, unthrottled) lasts about as long as the ingest run.
    Compression runs with the default duty cycle (``SENSORHUB_COMPRESSION_DUTY``), as the worker does;
    throttled it outlasts the ingest run, and its own throughput (readings / wall time) is reported."""
    duty = float(Settings.model_fields["compression_duty"].default)
    sz = ctx.sizes
    async with ctx.pool.acquire() as conn:
        store = await TimeSeriesStore.open(conn)
    all_series = await ensure_devices(ctx, sz.series)
    registry = build_registry()
    ingest = ReadingsIngest(ctx.pool, store, EventStoreDeviceCatalog(registry), registry, retention_days=30)
    gen = Batches(all_series, sz.readings, sz.reading_batch)
    # Its own window, a day after the library ingest row's (whose readings it would otherwise repeat) and
    # after the day the compression row packs (older rows than the newest packed day are probed against it).
    gen.origin += timedelta(days=1)
    devices = max(1, sz.series // 3)
    per_day = min(1440, max(24, 2 * sz.readings // (devices * 3)))
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=10 + k) for k in range(3 * sz.rounds)]  # older than the ingest window
    async with ctx.pool.acquire() as conn:
        await store.ensure_days(conn, {(gen.origin + timedelta(days=i)).date() for i in range(4)}
                                | {d.date() for d in days})
    # Per duty: the share of the ingest run compression overlapped, (readings in the sealed day, readings
    # the run packed) and (wall s, busy s, paused s) of compression, one entry per round.
    overlap: dict[float, list[float]] = {duty: [], 1.0: []}
    packed: dict[float, list[tuple[int, int]]] = {duty: [], 1.0: []}
    compress_runs: dict[float, list[tuple[float, float, float]]] = {duty: [], 1.0: []}

    async def ingest_run() -> Measurement:
        batches = gen.for_run()
        queue: asyncio.Queue[list[Reading]] = asyncio.Queue()
        for b in batches:
            queue.put_nowait(b)
        latencies: list[float] = []
        rows = [0]

        async def worker() -> None:
            while not queue.empty():
                batch = queue.get_nowait()
                t0 = time.perf_counter()
                result = await ingest.ingest(Parsed(list(enumerate(batch)), []))
                assert result.accepted == len(batch), (result.accepted, result.rejected[:3])
                latencies.append(time.perf_counter() - t0)
                rows[0] += len(batch)

        reset_peak_rss()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(INGEST_CONNECTIONS)))
        return Measurement(len(latencies), time.perf_counter() - start, rows[0], latencies, peak_rss_mb())

    async def sealed_day() -> tuple[Partition, int]:
        day = days.pop()
        async with ctx.pool.acquire() as conn:
            await conn.execute(_FILL, day, devices, per_day)
            await conn.execute("VACUUM (ANALYZE) readings")
            n = int(await conn.fetchval("SELECT count(*) FROM readings WHERE time >= $1 AND time < $2", day,
                                        day + timedelta(days=1)))
        return await _partition(ctx, store, day), n

    async def alone(_: int) -> Measurement:
        await sealed_day()  # the same preparation as the other variant: the same table state
        return await ingest_run()

    async def with_compression(at: float) -> Measurement:
        partition, readings = await sealed_day()
        report = CompressionReport()
        throttle = DutyCycle(at)

        async def compress() -> float:
            t0 = time.perf_counter()
            async with ctx.pool.acquire() as conn:
                await compress_day(conn, partition, GROUPS, report, throttle=throttle)
            return time.perf_counter() - t0

        compressing = asyncio.create_task(compress())
        measured = await ingest_run()
        compress_s = await compressing
        overlap[at].append(min(1.0, compress_s / measured.seconds) if measured.seconds else 0.0)
        compress_runs[at].append((compress_s, throttle.busy_s, throttle.paused_s))
        packed[at].append((readings, report.readings))
        return measured

    async def throttled(_: int) -> Measurement:
        return await with_compression(duty)

    async def unthrottled(_: int) -> Measurement:
        return await with_compression(1.0)

    runs = await interleave(sz.rounds, {"ingest alone": alone, "ingest while compressing": throttled,
                                        UNTHROTTLED: unthrottled})
    row = RowResult(
        "compression, ingest while compressing",
        ctx.engine,
        f"the service's ingest, {sz.readings:,} readings per run in batches of {sz.reading_batch:,} over "
        f"{len(all_series)} series, {INGEST_CONNECTIONS} connections; concurrently the compression step packs "
        f"an older sealed day of {devices * 3 * per_day:,} readings in {GROUPS} group transactions, duty cycle "
        f"{duty:g} (the default SENSORHUB_COMPRESSION_DUTY; diagnostic: 1, no pause); interleaved",
        summaries(runs),
        [],
    )
    ratio = row.ratio("ingest while compressing", "ingest alone")
    alone_tps = row.variant("ingest alone").throughputs
    spread = (max(alone_tps) / min(alone_tps)) if len(alone_tps) > 1 and min(alone_tps) else None
    row.checks = [
        judged(Check("ingest while compressing / alone", f"≥ {INGEST_RATIO_MIN:g}x", f"{ratio:.2f}x",
                     ratio >= INGEST_RATIO_MIN), sz),
        Check("every reading of the sealed day packed", f"{sum(n for p in packed.values() for n, _ in p):,}",
              f"{sum(m for p in packed.values() for _, m in p):,}",
              all(len(p) == sz.rounds and all(n == m > 0 for n, m in p) for p in packed.values())),
    ]
    row.notes = [
        "spread of the 'ingest alone' runs (max/min): " + (f"{spread:.2f}x" if spread else "one run, not measured"),
        f"diagnostic, compression unthrottled (duty 1): ingest {row.ratio(UNTHROTTLED, 'ingest alone'):.2f}x alone",
    ]
    for at in (duty, 1.0):
        runs_at, walls = compress_runs[at], [w for w, _, _ in compress_runs[at]]
        row.notes.append(
            f"compression at duty {at:g}: {_median_rate(packed[at], walls):,.0f} readings/s over its wall time, "
            f"{_median_rate(packed[at], [b for _, b, _ in runs_at]):,.0f} over its busy time (medians of rounds); "
            f"paused {statistics.median(p for _, _, p in runs_at):.1f} s of {statistics.median(walls):.1f} s; "
            f"running for {statistics.median(overlap[at]):.0%} of the ingest run"
        )
    return row


ROWS = {"compression": compression, "compression-ingest": ingest_while_compressing}
