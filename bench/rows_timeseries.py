"""Time-series rows: library ingest, HTTP ingest, bucket query, latest per series."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sensorhub.application.unit_of_work import CommandContext
from sensorhub.domain.device import Device
from sensorhub.domain.device_commands import RegisterDevice
from sensorhub.domain.values import Metric
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work
from sensorhub.ingest.catalog import EventStoreDeviceCatalog
from sensorhub.ingest.rows import Parsed
from sensorhub.ingest.service import ReadingsIngest
from sensorhub.timeseries.store import BucketSpec, Reading, SeriesRange, TimeSeriesStore

from bench.context import Context
from bench.core import (
    Check,
    Measurement,
    RowResult,
    ceiling_check,
    interleave,
    peak_rss_mb,
    ratio_check,
    reported_ratio,
    reset_peak_rss,
    summaries,
)
from bench.settle import settle

METRICS = ("temperature", "humidity", "pressure")
RAW_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS bench_staging "
    "(device_id text, metric text, time timestamptz, value double precision) ON COMMIT DELETE ROWS"
)
RAW_MERGE = (
    "INSERT INTO readings (device_id, metric, time, value) "
    "SELECT device_id, metric, time, value FROM bench_staging ON CONFLICT DO NOTHING"
)
_state: dict[str, Any] = {}


def series(n: int) -> list[tuple[str, str]]:
    devices = max(1, n // len(METRICS))
    return [(f"bench-dev-{d:05d}", m) for d in range(devices) for m in METRICS][:n]


async def ensure_devices(ctx: Context, n_series: int) -> list[tuple[str, str]]:
    """Register the devices the readings belong to (once per database)."""
    key = f"devices-{ctx.url}"
    wanted = series(n_series)
    if _state.get(key, 0) >= len(wanted):
        return wanted
    registry = build_registry()
    ids = sorted({d for d, _ in wanted})
    for start in range(0, len(ids), 500):
        async with postgres_unit_of_work(ctx.pool, registry, context=CommandContext(actor="bench")) as uow:
            for device_id in ids[start : start + 500]:
                if await uow.devices.find(device_id) is None:
                    uow.devices.add(
                        Device.register(
                            RegisterDevice(
                                device_id, device_id, "bench-site", "multi", tuple(Metric(m, "u") for m in METRICS)
                            )
                        )
                    )
            await uow.commit()
    _state[key] = len(wanted)
    return wanted


async def open_store(ctx: Context) -> TimeSeriesStore:
    async with ctx.pool.acquire() as conn:
        return await TimeSeriesStore.open(conn)


class Batches:
    """Distinct readings for every run: run ``k`` owns its own time window (1 reading per series per second)."""

    def __init__(self, all_series: list[tuple[str, str]], total: int, batch: int) -> None:
        self.series = all_series
        self.total = total
        self.batch = batch
        self.origin = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
        self.next_run = 0

    def for_run(self) -> list[list[Reading]]:
        run = self.next_run
        self.next_run += 1
        per_series = -(-self.total // len(self.series))
        base = self.origin + timedelta(seconds=run * (per_series + 10))
        out: list[Reading] = []
        for j in range(per_series):
            t = base + timedelta(seconds=j)
            for device_id, metric in self.series:
                out.append(Reading(device_id, metric, t, 20.0 + (j % 100) / 10))
                if len(out) == self.total:
                    break
            if len(out) == self.total:
                break
        return [out[i : i + self.batch] for i in range(0, len(out), self.batch)]


async def _fan_out(
    batches: list[list[Reading]], connections: int, write: Any, settle: Callable[[], Awaitable[None]] | None = None
) -> Measurement:
    """``connections`` workers take batches from a shared queue; one latency per batch. ``settle``
    (awaited inside the timed region) waits for work the writes left for after their commits."""
    queue: asyncio.Queue[list[Reading]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    latencies: list[float] = []
    rows = [0]

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            t0 = time.perf_counter()
            await write(batch)
            latencies.append(time.perf_counter() - t0)
            rows[0] += len(batch)

    reset_peak_rss()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    if settle is not None:
        await settle()
    return Measurement(len(latencies), time.perf_counter() - start, rows[0], latencies, peak_rss_mb())


async def raw_write(ctx: Context, batch: list[Reading]) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute(RAW_STAGING)
        await conn.copy_records_to_table(
            "bench_staging",
            records=[(r.device_id, r.metric, r.time, r.value) for r in batch],
            columns=("device_id", "metric", "time", "value"),
        )
        await conn.execute(RAW_MERGE)


async def upkeep_drained(ctx: Context) -> None:
    """Wait until the service has drained the upkeep of every batch it acknowledged."""
    for _ in range(60_000):
        if not await ctx.pool.fetchval("SELECT EXISTS (SELECT 1 FROM ingest_upkeep)"):
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the service left ingest upkeep undrained for minutes")


async def ingest_library(ctx: Context) -> list[RowResult]:
    sz = ctx.sizes
    all_series = await ensure_devices(ctx, sz.series)
    store = await open_store(ctx)
    registry = build_registry()
    ingest = ReadingsIngest(ctx.pool, store, EventStoreDeviceCatalog(registry), registry, retention_days=30)
    gen = Batches(all_series, sz.readings, sz.reading_batch)
    # Partitions for the whole window up front (both sides write into the same table).
    async with ctx.pool.acquire() as conn:
        await store.ensure_days(conn, {(gen.origin + timedelta(days=i)).date() for i in range(4)})
    rows: list[RowResult] = []
    for connections in (1, 2):

        async def ours(_: int, c: int = connections) -> Measurement:
            batches = gen.for_run()

            async def write(batch: list[Reading]) -> None:
                result = await ingest.ingest(Parsed(list(enumerate(batch)), []))
                assert result.accepted == len(batch), (result.accepted, result.rejected[:3])

            # The upkeep the batches left (latest values, rollup marks) is drained inside the timed region.
            return await _fan_out(batches, c, write, ingest.upkeep.settle)

        async def raw(_: int, c: int = connections) -> Measurement:
            return await _fan_out(gen.for_run(), c, lambda b: raw_write(ctx, b))

        runs = await interleave(sz.rounds, {"sensorhub ingest": ours, "raw staging COPY + ON CONFLICT": raw})
        row = RowResult(
            f"readings ingest, library, {connections} conn",
            ctx.engine,
            f"{sz.readings:,} readings per run, batches of {sz.reading_batch:,}, {len(all_series)} series, "
            f"{connections} connection(s); the timed region ends once the batches' upkeep is drained",
            summaries(runs),
            [],
        )
        row.checks = [ratio_check(row, "sensorhub ingest", "raw staging COPY + ON CONFLICT", 0.9, "vs raw")]
        rows.append(row)
    return rows


async def ingest_http(ctx: Context) -> list[RowResult]:
    from bench.service import Service

    sz = ctx.sizes
    all_series = await ensure_devices(ctx, sz.series)
    store = await open_store(ctx)
    total = max(sz.http_batch * 4, sz.readings // 5)
    gen = Batches(all_series, total, sz.http_batch)
    gen.origin -= timedelta(hours=20)  # its own window, apart from the library row's
    async with ctx.pool.acquire() as conn:
        await store.ensure_days(conn, {(gen.origin + timedelta(days=i)).date() for i in range(4)})
    log = Path(".local") / f"bench-service-{ctx.engine}.log"
    log.parent.mkdir(exist_ok=True)
    with Service(ctx.url, log_file=log, db_pool_max="10") as svc:
        async with httpx.AsyncClient(base_url=svc.base_url, headers=svc.headers(), timeout=120) as client:

            def http_run(encode_in_timed_region: bool) -> Callable[[int], Awaitable[Measurement]]:
                async def run(_: int) -> Measurement:
                    batches = gen.for_run()
                    # A load generator sends bodies it has built, as the raw path gets its rows built:
                    # the client's JSON encoding (on the same 2 cores as the service) is outside the clock,
                    # except in the diagnostic variant.
                    bodies = {} if encode_in_timed_region else {id(b): _json_body(b) for b in batches}
                    reset_peak_rss(svc.pid)

                    async def write(batch: list[Reading]) -> None:
                        body = bodies.get(id(batch)) or _json_body(batch)
                        response = await client.post("/v1/readings", content=body, headers=JSON_TYPE)
                        assert response.status_code == 200, response.text[:500]
                        assert response.json()["accepted"] == len(batch), response.text[:500]

                    m = await _fan_out(batches, 1, write, lambda: upkeep_drained(ctx))
                    m.peak_rss_mb = peak_rss_mb(svc.pid)
                    return m

                return run

            async def raw(_: int) -> Measurement:
                return await _fan_out(gen.for_run(), 1, lambda b: raw_write(ctx, b))

            variants = {
                "sensorhub HTTP (JSON)": http_run(False),
                "raw staging COPY + ON CONFLICT": raw,
                HTTP_ENCODING_IN_CLOCK: http_run(True),
            }
            runs = await interleave(sz.rounds, variants)
    row = RowResult(
        "readings ingest, HTTP",
        ctx.engine,
        f"{total:,} readings per run as JSON batches of {sz.http_batch:,}, one client connection, bodies "
        "encoded before the clock starts (the diagnostic variant encodes them inside it); "
        "the timed region ends once the service has drained the batches' upkeep",
        summaries(runs),
        [],
        notes=["peak RSS of the HTTP variant is the service process's; the raw variant's is the bench client's"],
    )
    row.checks = [
        ratio_check(row, "sensorhub HTTP (JSON)", "raw staging COPY + ON CONFLICT", 0.5, "vs raw"),
        reported_ratio(
            row,
            HTTP_ENCODING_IN_CLOCK,
            "raw staging COPY + ON CONFLICT",
            "body encoded in the timed region vs raw (diagnostic)",
        ),
    ]
    return [row]


JSON_TYPE = {"Content-Type": "application/json"}
HTTP_ENCODING_IN_CLOCK = "sensorhub HTTP, body encoded in the timed region (diagnostic)"


def _json_body(batch: list[Reading]) -> bytes:
    """A device's batch as ``POST /v1/readings`` takes it (stdlib ``json``, as a plain client would)."""
    readings = [
        {"device_id": r.device_id, "metric": r.metric, "time": r.time.isoformat(), "value": r.value} for r in batch
    ]
    return json.dumps({"readings": readings}).encode()


async def _fill(ctx: Context, rows: int, target: tuple[str, str], day_start: datetime) -> None:
    """``rows`` readings: the target series every 10 s over one day, the rest over 3,000 filler series
    one per minute, written server-side (generate_series) into the engine's ``readings``."""
    store = await open_store(ctx)
    have = await ctx.pool.fetchval(
        "SELECT count(*) FROM readings WHERE device_id LIKE 'fill-%' OR device_id = $1", target[0]
    )
    need = rows - int(have)
    if need <= 0:
        return
    minutes = -(-need // 3000)
    first = day_start - timedelta(minutes=minutes) + timedelta(days=1)
    async with ctx.pool.acquire() as conn:
        days = {(first + timedelta(days=i)).date() for i in range((minutes // 1440) + 3)}
        days |= {day_start.date(), (day_start + timedelta(days=1)).date()}
        await store.ensure_days(conn, days)
        if not have:
            await conn.execute(
                "INSERT INTO readings (device_id, metric, time, value) "
                "SELECT $1, $2, t, random() * 40 FROM generate_series($3::timestamptz, $3 + interval '1 day' - "
                "interval '10 s', interval '10 s') t ON CONFLICT DO NOTHING",
                target[0],
                target[1],
                day_start,
            )
        step = 200  # minutes per statement, so no single statement runs for minutes
        for offset in range(0, minutes, step):
            await conn.execute(
                "INSERT INTO readings (device_id, metric, time, value) "
                "SELECT 'fill-' || (s / 3), (ARRAY['temperature','humidity','pressure'])[s % 3 + 1], "
                "$1::timestamptz + make_interval(mins => m), random() * 40 "
                "FROM generate_series($2::int, $3::int) m, generate_series(0, 2999) s ON CONFLICT DO NOTHING",
                first,
                offset,
                min(minutes, offset + step) - 1,
            )


def timed_buckets(
    ctx: Context, store: TimeSeriesStore, rng: SeriesRange, spec: BucketSpec
) -> Callable[[int], Awaitable[Measurement]]:
    """One round of the bucket query: ``bucket_queries`` sequential queries of a 1-day, 1-minute range."""
    return _timed_queries(ctx, lambda conn: store.buckets(conn, rng, spec))


# The floor of the bucket row, on the same data in the same run: the least SQL that answers it (one
# range scan of the primary key, date_bin, GROUP BY; no packed days, no rollups, no gap filling),
# fetched by raw asyncpg as records (no dicts). What any store pays on this machine for this answer.
_FLOOR_BUCKETS = (
    "SELECT date_bin($5::interval, time, '1970-01-01 00:00:00+00'::timestamptz) AS time, avg(value) AS avg,"
    " min(value) AS min, max(value) AS max, count(*) AS count FROM readings"
    " WHERE device_id = $1 AND metric = $2 AND time >= $3 AND time < $4 GROUP BY 1 ORDER BY 1"
)
FLOOR = "floor: minimal SQL, raw asyncpg (baseline)"


def timed_floor_buckets(ctx: Context, rng: SeriesRange, width: timedelta) -> Callable[[int], Awaitable[Measurement]]:
    args = (rng.device_id, rng.metric, rng.start, rng.end, width)
    return _timed_queries(ctx, lambda conn: conn.fetch(_FLOOR_BUCKETS, *args))


def _timed_queries(
    ctx: Context, query: Callable[[Any], Awaitable[Sequence[object]]]
) -> Callable[[int], Awaitable[Measurement]]:
    async def run(_: int) -> Measurement:
        lat: list[float] = []
        reset_peak_rss()
        start = time.perf_counter()
        for _ in range(ctx.sizes.bucket_queries):
            t0 = time.perf_counter()
            async with ctx.pool.acquire() as conn:
                got = await query(conn)
            lat.append(time.perf_counter() - t0)
            assert len(got) == 1440, len(got)
        return Measurement(len(lat), time.perf_counter() - start, 0, lat, peak_rss_mb())

    return run


async def bucket_query(ctx: Context) -> list[RowResult]:
    sz = ctx.sizes
    store = await open_store(ctx)
    target = ("bench-bucket-dev", "temperature")
    day_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    out: list[RowResult] = []
    limits = {0: 5.0, 1: 20.0}
    for k, rows in enumerate(sz.bucket_rows):
        await _fill(ctx, rows, target, day_start)
        loaded = await ctx.pool.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE device_id LIKE 'fill-%') AS filler, "
            "count(*) FILTER (WHERE device_id = $1) AS target, "
            "min(time) FILTER (WHERE device_id LIKE 'fill-%') AS first, "
            "max(time) FILTER (WHERE device_id LIKE 'fill-%') AS last FROM readings",
            target[0],
        )
        assert loaded is not None
        settled = await settle(ctx.pool)  # last before the queries
        total = int(loaded["total"])
        filler_days = (loaded["last"] - loaded["first"]).total_seconds() / 86400 if loaded["filler"] else 0.0
        data = (
            f"table of {total:,} rows: the queried series ({loaded['target']:,} readings, one every 10 s "
            f"over 1 day), 3,000 filler series ({loaded['filler']:,} readings, one a minute over "
            f"{filler_days:.1f} days), {total - loaded['target'] - loaded['filler']:,} rows of the ingest "
            f"rows' series; loaded server-side, then {settled}"
        )
        spec = BucketSpec(timedelta(minutes=1), ("avg", "min", "max", "count"), "none")
        rng = SeriesRange(target[0], target[1], day_start, day_start + timedelta(days=1))

        runs = await interleave(
            sz.rounds,
            {
                "sensorhub buckets": timed_buckets(ctx, store, rng, spec),
                FLOOR: timed_floor_buckets(ctx, rng, spec.width),
            },
        )
        row = RowResult(
            f"bucket query, {rows:,} rows",
            ctx.engine,
            f"one series, 1 day in 1-minute buckets (avg, min, max, count), {sz.bucket_queries} sequential "
            f"queries; {data}",
            summaries(runs),
            [],
        )
        limit = limits.get(k, 20.0) if sz.name != "smoke" else 5.0
        ours, floor = row.variant("sensorhub buckets").p95_ms, row.variant(FLOOR).p95_ms
        row.checks = [ceiling_check("p95", ours, limit, "ms")]
        if ours is not None and floor is not None:
            row.checks += [
                Check("p95 of the floor (diagnostic)", "(reported)", f"{floor:.2f} ms", None),
                Check("p95 / the floor's p95 (diagnostic)", "(reported)", f"{ours / floor:.2f}x", None),
            ]
        out.append(row)
    return out


async def latest_per_series(ctx: Context) -> RowResult:
    sz = ctx.sizes
    wanted = (await ensure_devices(ctx, sz.latest_series))[: sz.latest_series]
    # Make sure every series has readings (the ingest rows may not have run).
    have = await ctx.pool.fetchval("SELECT count(*) FROM latest_readings WHERE device_id LIKE 'bench-dev-%'")
    if have < len(wanted):
        store = await open_store(ctx)
        registry = build_registry()
        ingest = ReadingsIngest(ctx.pool, store, EventStoreDeviceCatalog(registry), registry, retention_days=30)
        gen = Batches(wanted, len(wanted) * 20, 10_000)
        gen.origin -= timedelta(hours=40)
        async with ctx.pool.acquire() as conn:
            await store.ensure_days(conn, {(gen.origin + timedelta(days=i)).date() for i in range(4)})
        for batch in gen.for_run():
            await ingest.ingest(Parsed(list(enumerate(batch)), []))
    devices = [d for d, _ in wanted]
    metrics = [m for _, m in wanted]
    # The series are every metric of these devices, so the store's per-device lookup answers exactly them.
    wanted_devices = sorted(set(devices))
    store = await open_store(ctx)

    async def ours(_: int) -> Measurement:
        lat: list[float] = []
        reset_peak_rss()
        start = time.perf_counter()
        for _ in range(max(3, sz.bucket_queries // 10)):
            t0 = time.perf_counter()
            async with ctx.pool.acquire() as conn:
                rows = await store.latest_of_devices(conn, wanted_devices)
            lat.append(time.perf_counter() - t0)
            assert len(rows) == len(wanted), (len(rows), len(wanted))
        return Measurement(len(lat), time.perf_counter() - start, 0, lat, peak_rss_mb())

    async def lateral(_: int) -> Measurement:
        lat: list[float] = []
        reset_peak_rss()
        start = time.perf_counter()
        for _ in range(max(3, sz.bucket_queries // 10)):
            t0 = time.perf_counter()
            rows = await ctx.pool.fetch(
                "SELECT w.device_id, w.metric, r.time, r.value "
                "FROM unnest($1::text[], $2::text[]) AS w(device_id, metric) "
                "CROSS JOIN LATERAL (SELECT time, value FROM readings x WHERE x.device_id = w.device_id "
                "AND x.metric = w.metric ORDER BY time DESC LIMIT 1) r",
                devices,
                metrics,
            )
            lat.append(time.perf_counter() - t0)
            assert len(rows) == len(wanted)
        return Measurement(len(lat), time.perf_counter() - start, 0, lat, peak_rss_mb())

    runs = await interleave(sz.rounds, {"sensorhub latest table": ours, "LATERAL per series": lateral})
    total = await ctx.pool.fetchval("SELECT count(*) FROM readings")
    row = RowResult(
        "latest per series",
        ctx.engine,
        f"{len(wanted):,} series, readings table of {total:,} rows; throughput = queries/s",
        summaries(runs),
        [],
    )
    ours_p50 = row.variant("sensorhub latest table").p50_ms or 0.0
    base_p50 = row.variant("LATERAL per series").p50_ms or float("nan")
    r = ours_p50 / base_p50 if base_p50 else float("nan")
    row.checks = [Check("p50 time vs LATERAL", "<= 0.2x", f"{r:.3f}x", r <= 0.2)]
    return row


ROWS = {
    "ingest": ingest_library,
    "ingest-http": ingest_http,
    "bucket": bucket_query,
    "latest": latest_per_series,
}
