"""Candidate packed layouts for sealed days, measured side by side on one engine's server.

``python -m bench.compression_layouts --server postgres=URL --server timescaledb=URL [--series 300]``

One day of simulator-like readings (the simulator's sine + noise, rounded to 3 decimals, 2 % gaps,
one reading a minute) is written raw into ``readings``, then packed into each candidate table.
Reported: bytes per reading including indexes and TOAST, and the time to decode one series-day.
The layout the service uses (``docs/compression.md``) was chosen from these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from bench.context import database
from bench.core import Sizes

DAY = datetime(2030, 1, 5, tzinfo=UTC)

_FILL = """
INSERT INTO readings (device_id, metric, time, value)
SELECT 'sim-' || lpad(d::text, 4, '0'), m.name, $1::timestamptz + make_interval(secs => t * $3::int),
       round((m.base + m.amp * sin(t * $3::int / 86400.0 * 2 * pi() + d)
              + m.noise * (random() + random() + random() + random() - 2.0))::numeric, 3)::float8
FROM generate_series(1, $2::int) d,
     (VALUES ('temperature', 21.0, 4.0, 0.3), ('humidity', 45.0, 10.0, 1.0), ('pressure', 1.5, 0.1, 0.01))
         AS m(name, base, amp, noise),
     generate_series(0, 86400 / $3::int - 1) t
WHERE random() >= 0.02
"""

_US = "(extract(epoch FROM time - day_start) * 1000000)::bigint"
_ROWS = f"""
SELECT device_id, metric, time, value, {_US} AS us,
       {_US} - coalesce(lag({_US}) OVER w, 0) AS dt,
       round(value * 1000)::int4 AS iv,
       round(value * 1000)::int4 - coalesce(lag(round(value * 1000)::int4) OVER w, 0) AS dv
FROM (SELECT *, $1::timestamptz AS day_start FROM readings WHERE time >= $1 AND time < $1 + interval '1 day') r
WINDOW w AS (PARTITION BY device_id, metric ORDER BY time)
"""

# name: (DDL columns, column compression, INSERT ... SELECT over _ROWS as `r`, decode query of one row)
VARIANTS: dict[str, tuple[str, str | None, str, str]] = {
    "A timestamptz[] + float8[] (pglz)": (
        "times timestamptz[] NOT NULL, vals float8[] NOT NULL",
        None,
        "array_agg(time ORDER BY time), array_agg(value ORDER BY time)",
        "SELECT unnest(p.times), unnest(p.vals) FROM layout_a p WHERE device_id = $1 AND metric = $2",
    ),
    "B int8 µs offsets + float8[] (lz4)": (
        "times bigint[] NOT NULL, vals float8[] NOT NULL",
        "lz4",
        "array_agg(us ORDER BY time), array_agg(value ORDER BY time)",
        "SELECT $3::timestamptz + o * interval '1 microsecond', v FROM layout_b p, unnest(p.times, p.vals) u(o, v) "
        "WHERE device_id = $1 AND metric = $2",
    ),
    "C int8 µs deltas + float8[] (lz4)": (
        "times bigint[] NOT NULL, vals float8[] NOT NULL",
        "lz4",
        "array_agg(dt ORDER BY time), array_agg(value ORDER BY time)",
        "SELECT $3::timestamptz + sum(d) OVER w * interval '1 microsecond', v "
        "FROM layout_c p, unnest(p.times, p.vals) WITH ORDINALITY u(d, v, i) "
        "WHERE device_id = $1 AND metric = $2 WINDOW w AS (ORDER BY i)",
    ),
    "D int8 µs deltas + scaled int4 values (lz4)": (
        "times bigint[] NOT NULL, scale smallint NOT NULL, vals int4[] NOT NULL",
        "lz4",
        "array_agg(dt ORDER BY time), 3, array_agg(iv ORDER BY time)",
        "SELECT $3::timestamptz + sum(d) OVER w * interval '1 microsecond', v::float8 / 1000 "
        "FROM layout_d p, unnest(p.times, p.vals) WITH ORDINALITY u(d, v, i) "
        "WHERE device_id = $1 AND metric = $2 WINDOW w AS (ORDER BY i)",
    ),
    "F timestamptz[] (pglz) + float8[] (lz4)": (
        "times timestamptz[] NOT NULL, vals float8[] NOT NULL",
        "pglz,lz4",
        "array_agg(time ORDER BY time), array_agg(value ORDER BY time)",
        "SELECT unnest(p.times), unnest(p.vals) FROM layout_f p WHERE device_id = $1 AND metric = $2",
    ),
    "G timestamptz[] + float8[] (lz4)": (
        "times timestamptz[] NOT NULL, vals float8[] NOT NULL",
        "lz4",
        "array_agg(time ORDER BY time), array_agg(value ORDER BY time)",
        "SELECT unnest(p.times), unnest(p.vals) FROM layout_g p WHERE device_id = $1 AND metric = $2",
    ),
    "E int8 µs deltas + scaled int4 value deltas (lz4)": (
        "times bigint[] NOT NULL, scale smallint NOT NULL, vals int4[] NOT NULL",
        "lz4",
        "array_agg(dt ORDER BY time), 3, array_agg(dv ORDER BY time)",
        "SELECT $3::timestamptz + sum(d) OVER w * interval '1 microsecond', (sum(v) OVER w)::float8 / 1000 "
        "FROM layout_e p, unnest(p.times, p.vals) WITH ORDINALITY u(d, v, i) "
        "WHERE device_id = $1 AND metric = $2 WINDOW w AS (ORDER BY i)",
    ),
}


async def measure(engine: str, server: str, series_devices: int, step_s: int) -> list[str]:
    lines: list[str] = []
    async with database(engine, server, Sizes.smoke()) as ctx:
        from sensorhub.timeseries.store import TimeSeriesStore

        async with ctx.pool.acquire() as conn:
            store = await TimeSeriesStore.open(conn)
            await store.ensure_days(conn, [DAY.date()])
            await conn.execute(_FILL, DAY, series_devices, step_s)
            await conn.execute("VACUUM (ANALYZE) readings")
            n = int(await conn.fetchval("SELECT count(*) FROM readings"))
            raw = 0
            for part in await store.engine.partitions(conn):
                raw += int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", part.name))
            lines.append(f"| {engine} | raw rows + primary key | {n:,} | {raw / n:.1f} | 1.0x | |")
            for label, (columns, compression, select, decode) in VARIANTS.items():
                table = "layout_" + label[0].lower()
                await conn.execute(
                    f"CREATE TABLE {table} (device_id text NOT NULL, metric text NOT NULL, day date NOT NULL, "
                    f"{columns}, PRIMARY KEY (device_id, metric, day))"
                )
                if compression:
                    methods = compression.split(",") * (2 if "," not in compression else 1)
                    for col, method in zip(("times", "vals"), methods, strict=True):
                        await conn.execute(f"ALTER TABLE {table} ALTER COLUMN {col} SET COMPRESSION {method}")
                started = time.perf_counter()
                await conn.execute(
                    f"INSERT INTO {table} SELECT device_id, metric, $1::date, {select} FROM ({_ROWS}) r "
                    "GROUP BY device_id, metric",
                    DAY,
                )
                pack_s = time.perf_counter() - started
                await conn.execute(f"VACUUM (ANALYZE) {table}")
                size = int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table))
                per_column = await conn.fetchrow(
                    f"SELECT sum(pg_column_size(times))::float8 / sum(cardinality(times)) AS t, "
                    f"sum(pg_column_size(vals))::float8 / sum(cardinality(vals)) AS v FROM {table}"
                )
                # Exactness: the decoded series equals the raw one.
                dev, met = "sim-0001", "temperature"
                want = await conn.fetch(
                    "SELECT time, value FROM readings WHERE device_id = $1 AND metric = $2 ORDER BY time", dev, met
                )
                args = (dev, met) if "$3" not in decode else (dev, met, DAY)
                got = await conn.fetch(decode + " ORDER BY 1", *args)
                exact = [tuple(r) for r in got] == [tuple(r) for r in want]
                timings = []
                for _ in range(30):
                    t0 = time.perf_counter()
                    await conn.fetch(decode, *args)
                    timings.append(time.perf_counter() - t0)
                timings.sort()
                raw_t = []
                for _ in range(30):
                    t0 = time.perf_counter()
                    await conn.fetch(
                        "SELECT time, value FROM readings WHERE device_id = $1 AND metric = $2 "
                        "AND time >= $3 AND time < $3 + interval '1 day'",
                        dev, met, DAY,
                    )
                    raw_t.append(time.perf_counter() - t0)
                raw_t.sort()
                lines.append(
                    f"| {engine} | {label} | {n:,} | {size / n:.2f} | {raw / size:.1f}x | "
                    f"decode one series-day median {timings[15] * 1000:.2f} ms (raw read {raw_t[15] * 1000:.2f} ms); "
                    f"pack {n / pack_s:,.0f} readings/s; times {per_column['t']:.2f} + values {per_column['v']:.2f} "
                    f"bytes/reading; exact: {exact} |"
                )
    return lines


async def main_async(args: argparse.Namespace) -> None:
    print(f"{args.devices * 3} series, one reading every {args.step} s, one day\n")
    print("| engine | layout | readings | bytes/reading | smaller | notes |")
    print("|---|---|---|---|---|---|")
    for spec in args.server:
        engine, _, url = spec.partition("=")
        for line in await measure(engine, url, args.devices, args.step):
            print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", action="append", required=True, help="engine=postgresql://... (repeatable)")
    parser.add_argument("--devices", type=int, default=100, help="devices (3 series each)")
    parser.add_argument("--step", type=int, default=60, help="seconds between readings of a series")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
