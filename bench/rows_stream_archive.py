"""Stream archive rows: archive and restore throughput of resolved alerts, the two candidate homes for
archived events measured in the same run — (a) the cold ``events_archive`` table (shipped) and (b) a
Parquet file per batch in the archive directory/bucket (as ``timeseries/archive.py`` does for
readings) — and the hot ``events`` table's size before and after archiving.

Runs in a database of its own (archiving changes the event log other rows read)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq
from sensorhub.application.archiving import ALERT_CLOSED_BY
from sensorhub.db import init_connection
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.timeseries.archive import DirectorySink

from bench.context import Context, prepare_schema, with_database
from bench.core import Check, Measurement, RowResult, interleave, summaries
from tests.projections.support import append_history

BATCH = 500  # streams per transaction, as `sensorhub events archive` defaults to
LATER = timedelta(days=1)
_PARQUET_SCHEMA = pa.schema(
    [
        ("position", pa.int64()),
        ("transaction_id", pa.string()),
        ("event_id", pa.string()),
        ("stream_id", pa.string()),
        ("stream_version", pa.int64()),
        ("type", pa.string()),
        ("schema_version", pa.int32()),
        ("data", pa.string()),
        ("metadata", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)
_ROWS_OF = (
    "SELECT position, transaction_id::text, event_id::text, stream_id, stream_version, type, schema_version,"
    " data::text, metadata::text, recorded_at FROM events WHERE stream_id = ANY($1::text[]) ORDER BY position"
)
# What (b) leaves behind, as (a) does: the rows leave `events`, a tombstone stays (the row lock and
# the version freeze as in eventstore.archive, so the comparison is of where the rows go).
_PARQUET_TOMBSTONES = """
WITH closed AS (
    UPDATE streams SET archived_version = version WHERE stream_id = ANY($1::text[])
    RETURNING stream_id, stream_type, version
)
INSERT INTO archived_streams (stream_id, stream_type, last_version, last_position, event_count)
SELECT stream_id, stream_type, version, 0, version FROM closed
"""


def _parquet(rows: Sequence[Any]) -> bytes:
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        [pa.array(list(c), f.type) for c, f in zip(columns, _PARQUET_SCHEMA, strict=True)], schema=_PARQUET_SCHEMA
    )
    out = pa.BufferOutputStream()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue().to_pybytes()


async def _relation_bytes(conn: Any, name: str) -> int:
    return int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name))


async def stream_archive(ctx: Context) -> list[RowResult]:
    sz = ctx.sizes
    per_round = max(40, sz.projection_events // 6 // 2)  # devices (and alerts) per round; half get resolved
    name = f"bench_{ctx.run_id}_archive"
    admin = await asyncpg.connect(ctx.server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(ctx.server_url, name)
    try:
        await prepare_schema(url)
        pool = await asyncpg.create_pool(url, min_size=2, max_size=4, init=init_connection, command_timeout=3600)
        raw = await asyncpg.create_pool(url, min_size=1, max_size=2, command_timeout=3600)
        try:
            return await _measure(ctx, pool, raw, per_round)
        finally:
            await raw.close()
            await pool.close()
    finally:
        admin = await asyncpg.connect(ctx.server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _measure(ctx: Context, pool: asyncpg.Pool, raw: asyncpg.Pool, per_round: int) -> list[RowResult]:
    sz = ctx.sizes
    store = PostgresEventStore(pool)
    halves: dict[int, tuple[list[str], list[str]]] = {}
    cold_ids: list[str] = []
    async with pool.acquire() as conn:
        for r in range(sz.rounds):
            await append_history(conn, r * per_round + 1, (r + 1) * per_round)
        await conn.execute("VACUUM (ANALYZE) events")
        events_total = int(await conn.fetchval("SELECT count(*) FROM events"))
        hot_before = await _relation_bytes(conn, "events")
    before = datetime.now(UTC) + LATER
    resolved: list[str] = []
    after = ""
    while ids := await store.closed_streams("Alert", ALERT_CLOSED_BY, before, after=after, limit=10_000):
        resolved += ids
        after = ids[-1]
    for r in range(sz.rounds):
        mine = sorted(s for s in resolved if r * per_round < int(s.split("-")[1]) <= (r + 1) * per_round)
        halves[r] = (mine[0::2], mine[1::2])
    sink_dir = Path(tempfile.mkdtemp(prefix="bench-stream-archive-"))
    sink = DirectorySink(sink_dir)
    parquet_key: dict[str, str] = {}

    def batches(ids: list[str]) -> list[list[str]]:
        return [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]

    async def cold(r: int) -> Measurement:
        ids = halves[r][0]
        started = time.perf_counter()
        events = 0
        for batch in batches(ids):
            events += sum(t.event_count for t in await store.archive_streams(batch))
        cold_ids.extend(ids)
        return Measurement(len(ids), time.perf_counter() - started, events)

    async def parquet(r: int) -> Measurement:
        ids = halves[r][1]
        started = time.perf_counter()
        events = 0
        for n, batch in enumerate(batches(ids)):
            async with raw.acquire() as conn, conn.transaction():
                await conn.fetch(
                    "SELECT 1 FROM streams WHERE stream_id = ANY($1::text[]) ORDER BY stream_id FOR UPDATE", batch
                )
                rows = await conn.fetch(_ROWS_OF, batch)
                key = f"events/round-{r}/batch-{n:05d}.parquet"
                await sink.put(key, _parquet(rows))  # durable before the delete
                parquet_key.update(dict.fromkeys(batch, key))
                await conn.execute("DELETE FROM events WHERE stream_id = ANY($1::text[])", batch)
                await conn.execute(_PARQUET_TOMBSTONES, batch)
                events += len(rows)
        return Measurement(len(ids), time.perf_counter() - started, events)

    runs = await interleave(sz.rounds, {"cold table (a, shipped)": cold, "Parquet file (b)": parquet})
    archived_events = sum(m.items for ms in runs.values() for m in ms)
    async with pool.acquire() as conn:
        await conn.execute("VACUUM (ANALYZE) events, events_archive")
        hot_after_vacuum = await _relation_bytes(conn, "events")
        hot_rows_after = int(await conn.fetchval("SELECT count(*) FROM events"))
        cold_bytes = await _relation_bytes(conn, "events_archive")
        cold_rows = int(await conn.fetchval("SELECT count(*) FROM events_archive"))
        await conn.execute("VACUUM FULL events")
        hot_after_full = await _relation_bytes(conn, "events")
    parquet_bytes = sum((await sink.sizes("events/")).values())
    parquet_rows = archived_events - cold_rows

    async def timed(fn: Callable[[list[str]], Awaitable[int]], ids: list[str]) -> Measurement:
        started = time.perf_counter()
        moved = 0
        for batch in batches(ids):
            moved += await fn(batch)
        return Measurement(len(ids), time.perf_counter() - started, moved)

    reads = await _reads(
        ctx.engine, store, pool, sink, cold_ids=cold_ids, parquet_key=parquet_key, loads=sz.aggregate_loads
    )
    restore = await timed(store.restore_streams, cold_ids)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events_archive") == 0
    row = RowResult(
        "stream archive",
        ctx.engine,
        f"{events_total:,} events ({sz.rounds * per_round:,} devices and alerts, half resolved); each round "
        f"archives its resolved alerts, {BATCH} streams per transaction, half to each home, interleaved",
        summaries({**runs, "restore from cold table (a)": [restore]}),
        [],
        notes=[
            f"hot `events`: {hot_before / 2**20:.1f} MiB ({events_total:,} rows) before; after archiving "
            f"{archived_events:,} events and VACUUM {hot_after_vacuum / 2**20:.1f} MiB (freed pages are reused, the "
            f"file keeps its size); after VACUUM FULL {hot_after_full / 2**20:.1f} MiB ({hot_rows_after:,} rows)",
            f"bytes per archived event: hot table {hot_before / events_total:.0f}, cold table (a) "
            f"{cold_bytes / max(cold_rows, 1):.0f} (two indexes, no event id index), Parquet zstd (b) "
            f"{parquet_bytes / max(parquet_rows, 1):.0f}",
        ],
    )
    a, b = row.variant("cold table (a, shipped)").throughput, row.variant("Parquet file (b)").throughput
    row.checks = [
        Check("archive throughput, cold table / Parquet", "informative", f"{a / b:.2f}x" if b else "n/a", None),
        Check("restore moved every archived event back", f"{cold_rows:,}", f"{restore.items:,}",
              restore.items == cold_rows),
    ]
    return [row, reads]


_HOT_ONLY_REPLAY = (  # the load path's read before archiving existed: the hot table alone
    "SELECT stream_version, position, type, schema_version, data::text FROM events"
    " WHERE stream_id = $1 AND stream_version >= $2 AND ($4::timestamptz IS NULL OR recorded_at <= $4)"
    " ORDER BY stream_version LIMIT $3"
)


async def _reads(
    engine: str,
    store: PostgresEventStore,
    pool: asyncpg.Pool,
    sink: DirectorySink,
    *,
    cold_ids: list[str],
    parquet_key: dict[str, str],
    loads: int,
) -> RowResult:
    """What each home costs a reader: an archived stream read from (a) the cold table or (b) its
    Parquet file; and what (a) costs every hot aggregate load (the archive branch of the union)."""
    step_a = max(1, len(cold_ids) // loads)
    sample_a = cold_ids[::step_a][:loads]
    b_ids = sorted(parquet_key)
    sample_b = b_ids[:: max(1, len(b_ids) // loads)][:loads]
    hot_ids = [f"dev-{i}" for i in range(1, loads + 1)]

    async def timed_each(ids: list[str], read: Callable[[str], Awaitable[int]]) -> Measurement:
        latencies: list[float] = []
        items = 0
        started = time.perf_counter()
        for stream_id in ids:
            t0 = time.perf_counter()
            items += await read(stream_id)
            latencies.append(time.perf_counter() - t0)
        return Measurement(len(ids), time.perf_counter() - started, items, latencies)

    async def from_table(stream_id: str) -> int:
        return len(await store.read_stream(stream_id))

    async def from_parquet(stream_id: str) -> int:
        data = await sink.get(parquet_key[stream_id])
        assert data is not None
        table = pq.read_table(pa.BufferReader(data), filters=[("stream_id", "=", stream_id)])
        return len(table.to_pylist())

    async def hot_union(stream_id: str) -> int:
        return len(await store.read_for_replay(stream_id))

    async def hot_only(stream_id: str) -> int:
        return len(await pool.fetch(_HOT_ONLY_REPLAY, stream_id, 1, None, None))

    runs = await interleave(
        3,
        {
            "archived stream, cold table (a)": lambda _r: timed_each(sample_a, from_table),
            "archived stream, Parquet file in a directory (b)": lambda _r: timed_each(sample_b, from_parquet),
            "hot aggregate load, hot + cold union (shipped)": lambda _r: timed_each(hot_ids, hot_union),
            "hot aggregate load, hot table only (before)": lambda _r: timed_each(hot_ids, hot_only),
        },
    )
    row = RowResult(
        "stream archive, reads",
        engine,
        f"{len(sample_a)} archived alert streams read whole from each home, and {len(hot_ids)} 4-event device "
        "loads (read_for_replay), sequential, 3 interleaved rounds",
        summaries(runs),
        [],
        notes=["(b) reads a local directory here; from a bucket each read adds an object GET (tens of ms)"],
    )
    union = row.variant("hot aggregate load, hot + cold union (shipped)").p50_ms
    before = row.variant("hot aggregate load, hot table only (before)").p50_ms
    ratio = union / before if union and before else None
    row.checks = [  # what the union costs every load: informative (PERFORMANCE.md's load targets are the bar)
        Check("hot load p50, union / hot only", "informative", f"{ratio:.2f}x" if ratio else "n/a", None),
    ]
    return row


ROWS = {"stream_archive": stream_archive}
