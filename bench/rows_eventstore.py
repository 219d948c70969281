"""Event-store rows: single-event appends, batches, a hot stream, aggregate loads."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from sensorhub.application import devices as handlers
from sensorhub.application.commands import execute
from sensorhub.application.errors import TooMuchContention
from sensorhub.application.stored_events import AppendResult, NewEvent
from sensorhub.application.unit_of_work import CommandContext
from sensorhub.domain.device import Device, DeviceState
from sensorhub.domain.device_commands import RegisterDevice, UpdateDevice
from sensorhub.domain.device_events import DeviceRenamed
from sensorhub.domain.values import Metric
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.eventstore.postgres import _APPEND_AT, _APPEND_NEW, PostgresEventStore
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work

from bench.context import Context
from bench.core import (
    Check,
    Measurement,
    RowResult,
    ceiling_check,
    cpu_mark,
    cpu_used_s,
    interleave,
    peak_rss_mb,
    ratio_check,
    reported_ratio,
    reset_peak_rss,
    summaries,
    timed_threads,
    timed_writers,
)

RAW_TABLE = """
CREATE TABLE IF NOT EXISTS bench_raw_events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL,
    stream_id       text NOT NULL,
    stream_version  bigint NOT NULL,
    type            text NOT NULL,
    schema_version  integer NOT NULL,
    data            jsonb NOT NULL,
    metadata        jsonb NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
)
"""
RAW_INSERT = (
    "INSERT INTO bench_raw_events (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
RAW_UNNEST = (
    "INSERT INTO bench_raw_events (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[])"
)


# Before the plain-SQL path (issue 18) the store sent every single-event append here (0006's
# fast path in PL/pgSQL); called as the store called it, it is the row's "before" in the same run.
_APPEND_0006 = (
    "SELECT stream_version, position, replayed"
    " FROM eventstore_append_one($1, $2, $3, $4::uuid, $5::text, $6::int, $7::jsonb, $8::jsonb)"
)

BEFORE = "before: the statement with its id probe (diagnostic)"


def payload(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """An event about the size of a real one (a rename with its command metadata): ~250 bytes."""
    data = {"device_id": f"dev-{i:08d}", "name": f"boiler room sensor {i}", "previous": "boiler room sensor"}
    meta = {"actor": "key_0123456789ab", "correlation_id": uuid.uuid4().hex, "causation_id": uuid.uuid4().hex}
    return data, meta


async def prepare(ctx: Context) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.execute(RAW_TABLE)


# --------------------------------------------------------------------------- eventsourcing library


class EventsourcingRecorder:
    """The ``eventsourcing`` library's PostgreSQL application recorder, through its documented API."""

    def __init__(self, url: str, table: str, *, writers: int, db_functions: bool) -> None:
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        u = urlparse(url)
        self.datastore = PostgresDatastore(
            dbname=u.path.lstrip("/"),
            host=u.hostname or "127.0.0.1",
            port=u.port or 5432,
            user=u.username or "postgres",
            password=u.password or "",
            pool_size=writers,
            enable_db_functions=db_functions,
        )
        self.recorder = PostgresApplicationRecorder(self.datastore, events_table_name=table)
        self.recorder.create_table()

    def append(self, originator_id: uuid.UUID, version: int, events: list[bytes]) -> int:
        from eventsourcing.persistence import StoredEvent

        self.recorder.insert_events(
            [
                StoredEvent(originator_id=originator_id, originator_version=version + k, topic="bench:Renamed", state=s)
                for k, s in enumerate(events)
            ]
        )
        return len(events)

    def close(self) -> None:
        self.datastore.close()


def _state_bytes(i: int) -> bytes:
    data, meta = payload(i)
    return json.dumps({"data": data, "metadata": meta}, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- rows


async def single_append(ctx: Context) -> RowResult:
    sz = ctx.sizes
    # as the service appends: eventstore_append (no NOTIFY since migration 0005), then a coalesced
    # NOTIFY after commit (sensorhub.eventstore.notify)
    notifier = AppendNotifier(ctx.pool)
    store = PostgresEventStore(ctx.pool, notifier=notifier)
    writers, seconds = sz.append_writers, sz.append_seconds
    es_default = EventsourcingRecorder(ctx.url, "es_default_events", writers=writers, db_functions=False)
    es_funcs = EventsourcingRecorder(ctx.url, "es_funcs_events", writers=writers, db_functions=True)
    try:

        def through(st: PostgresEventStore, tag: str) -> Any:
            async def run(r: int) -> Measurement:
                async def op(w: int, i: int) -> int:
                    data, meta = payload(i)
                    event = NewEvent(uuid.uuid4(), "DeviceRenamed", 1, data, meta)
                    await st.append(f"{tag}-{r}-{w}", "Device", [event], expected=i)
                    return 1

                return await timed_writers(writers, seconds, op)

            return run

        async def raw(r: int) -> Measurement:
            async def op(w: int, i: int) -> int:
                data, meta = payload(i)
                await ctx.pool.execute(RAW_INSERT, uuid.uuid4(), f"raw-{r}-{w}", i + 1, "DeviceRenamed", 1, data, meta)
                return 1

            return await timed_writers(writers, seconds, op)

        def es(rec: EventsourcingRecorder, tag: str) -> Any:
            async def run(r: int) -> Measurement:
                ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}-{ctx.run_id}-{r}-{w}") for w in range(writers)]
                return await asyncio.to_thread(
                    timed_threads, writers, seconds, lambda w, i: rec.append(ids[w], i + 1, [_state_bytes(i)])
                )

            return run

        # Diagnostics. Without NOTIFY: the same appends with no notifier, i.e. what the coalesced
        # post-commit NOTIFY costs. Before: the plain-SQL statement the store sent for every
        # single-event append until the id probe was dropped on the pool (issue 18, second step),
        # with the store's work around it, without notifier: against "without NOTIFY" it isolates
        # that step's gain. (The PL/pgSQL function of 0006, the "before" of the first step, is in
        # bench/results/ up to 2026-12-01T145033Z; bench/append_profile.py still measures it.)
        async def probed(r: int) -> Measurement:
            async def op(w: int, i: int) -> int:
                data, meta = payload(i)
                event = NewEvent(uuid.uuid4(), "DeviceRenamed", 1, data, meta)
                stream = f"pr-{r}-{w}"
                args = (event.event_id, event.type, event.schema_version, event.data, event.metadata)
                position = await ctx.pool.fetchval(_APPEND_AT if i else _APPEND_NEW, stream, i or "Device", *args)
                AppendResult(stream, i + 1, position, (position,))
                return 1

            return await timed_writers(writers, seconds, op)

        # The CPU each judged variant used per append, client + server: unlike appends/s, not
        # moved by other load on the machine (PERFORMANCE.md asks for a quiet one).
        def with_cpu(run: Any) -> Any:
            async def measured(r: int) -> Measurement:
                before = await cpu_mark(ctx.pool)
                m: Measurement = await run(r)
                used = cpu_used_s(before, await cpu_mark(ctx.pool))
                if used is not None and m.operations:
                    m.extra["cpu_us_per_op"] = used / m.operations * 1e6
                return m

            return measured

        # 5 rounds where the sizes say 3: this row's variants are short and the shared machine's load
        # swings within a minute; the median of 5 interleaved rounds moves less (both sides alike).
        runs = await interleave(
            sz.rounds if sz.rounds < 3 else 5,
            {
                "sensorhub": with_cpu(through(store, "ours")),
                "sensorhub without NOTIFY (diagnostic)": through(PostgresEventStore(ctx.pool), "nn"),
                BEFORE: probed,
                "raw asyncpg INSERT": with_cpu(raw),
                "eventsourcing (default)": es(es_default, "d"),
                "eventsourcing (db functions)": es(es_funcs, "f"),
            },
        )
    finally:
        await notifier.aclose()
        es_default.close()
        es_funcs.close()
    row = RowResult(
        "event append, single event per command",
        ctx.engine,
        f"{writers} writers x {seconds:g} s, distinct streams, expected version, durable commit",
        summaries(runs),
        [],
    )
    row.checks = [
        ratio_check(row, "sensorhub", "raw asyncpg INSERT", 0.8, "vs raw INSERT"),
        ratio_check(row, "sensorhub", "eventsourcing (default)", 4.0, "vs eventsourcing (default)"),
        reported_ratio(
            row,
            "sensorhub without NOTIFY (diagnostic)",
            "raw asyncpg INSERT",
            "without NOTIFY (diagnostic) vs raw INSERT",
        ),
        reported_ratio(
            row,
            "sensorhub without NOTIFY (diagnostic)",
            BEFORE,
            "without NOTIFY vs before: the probed statement (diagnostic)",
        ),
        reported_ratio(
            row, BEFORE, "raw asyncpg INSERT", "before (probed statement, no NOTIFY) vs raw INSERT (diagnostic)"
        ),
        reported_ratio(row, "sensorhub", "eventsourcing (db functions)", "vs eventsourcing (db functions)"),
        _cpu_ratio(runs, "sensorhub", "raw asyncpg INSERT"),
    ]
    return row


def _cpu_ratio(runs: dict[str, list[Measurement]], ours: str, baseline: str) -> Check:
    """Diagnostic: the baseline's CPU per append over ours (medians of the rounds; client + server,
    so a local server only): read like the throughput ratio, 0.8x = ours uses 1.25x the CPU."""
    label = "CPU per append vs raw INSERT, client + server (diagnostic)"
    mine = [m.extra["cpu_us_per_op"] for m in runs[ours] if "cpu_us_per_op" in m.extra]
    theirs = [m.extra["cpu_us_per_op"] for m in runs[baseline] if "cpu_us_per_op" in m.extra]
    if not mine or not theirs:
        return Check(label, "(reported)", "n/a (server not local)", None)
    a, b = statistics.median(mine), statistics.median(theirs)
    return Check(label, "(reported)", f"{b / a:.2f}x ({a:.0f} vs {b:.0f} µs)", None)


async def batch_append(ctx: Context) -> RowResult:
    sz = ctx.sizes
    store = PostgresEventStore(ctx.pool)
    n = sz.batch_size

    async def ours(r: int) -> Measurement:
        async def op(w: int, i: int) -> int:
            events = []
            for k in range(n):
                data, meta = payload(k)
                events.append(NewEvent(uuid.uuid4(), "DeviceRenamed", 1, data, meta))
            await store.append(f"batch-ours-{r}-{w}", "Device", events, expected=i * n)
            return n

        return await timed_writers(sz.batch_writers, sz.append_seconds, op)

    def columns(r: int, w: int, i: int) -> list[list[Any]]:
        cols: list[list[Any]] = [[], [], [], [], [], [], []]
        for k in range(n):
            data, meta = payload(k)
            for c, v in zip(
                cols, (uuid.uuid4(), f"batch-raw-{r}-{w}", i * n + k + 1, "DeviceRenamed", 1, data, meta), strict=True
            ):
                c.append(v)
        return cols

    async def raw(r: int) -> Measurement:
        async def op(w: int, i: int) -> int:
            await ctx.pool.execute(RAW_UNNEST, *columns(r, w, i))
            return n

        return await timed_writers(sz.batch_writers, sz.append_seconds, op)

    async def copy(r: int) -> Measurement:
        async def op(w: int, i: int) -> int:
            cols = columns(r + 100, w, i)
            records = [(a, b, c, d, e, json.dumps(f), json.dumps(g)) for a, b, c, d, e, f, g in zip(*cols, strict=True)]
            async with ctx.raw_pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "bench_raw_events",
                    records=records,
                    columns=["event_id", "stream_id", "stream_version", "type", "schema_version", "data", "metadata"],
                )
            return n

        return await timed_writers(sz.batch_writers, sz.append_seconds, op)

    runs = await interleave(sz.rounds, {"sensorhub": ours, "raw unnest INSERT": raw, "raw COPY": copy})
    row = RowResult(
        "event append, batches",
        ctx.engine,
        f"{n} events per append, {sz.batch_writers} writers x {sz.append_seconds:g} s",
        summaries(runs),
        [],
    )
    row.checks = [ratio_check(row, "sensorhub", "raw unnest INSERT", 0.7, "vs raw unnest")]
    return row


async def hot_stream(ctx: Context) -> RowResult:
    """16 writers rename one device as fast as they can through the application layer."""
    sz = ctx.sizes
    registry = build_registry()
    device_id = f"hot-{ctx.run_id}"
    attempts = [0]
    notifier = AppendNotifier(ctx.pool)

    def new_uow() -> Any:
        attempts[0] += 1
        return postgres_unit_of_work(ctx.pool, registry, context=CommandContext(actor="bench"), notifier=notifier)

    await execute(
        handlers.register_device,
        RegisterDevice(device_id, "hot", "site-1", "thermo", (Metric("temperature", "C"),)),
        new_uow,
    )
    attempts[0] = 0
    gave_up = [0]

    async def op(w: int, i: int) -> int:
        try:
            await execute(handlers.update_device, UpdateDevice(device_id, name=f"w{w}-{i}"), new_uow)
        except TooMuchContention:
            gave_up[0] += 1
            return 0
        return 1

    m = await timed_writers(sz.hot_writers, sz.hot_seconds, op)
    await notifier.aclose()
    store = PostgresEventStore(ctx.pool)
    version = await store.stream_version(device_id)
    stored = await ctx.pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", device_id)
    succeeded = m.items
    lost = succeeded - (version - 1)
    m.extra = {
        "commands": m.operations,
        "succeeded": succeeded,
        "retries": attempts[0] - m.operations,
        "gave_up_409": gave_up[0],
        "stream_version": version,
        "events_stored": stored,
    }
    row = RowResult(
        "hot stream",
        ctx.engine,
        f"{sz.hot_writers} writers on one stream x {sz.hot_seconds:g} s (application layer, bounded retries)",
        summaries({"sensorhub": [m]}),
        [
            Check("lost updates", "0", str(lost), lost == 0 and stored == version),
            Check(
                "conflicts reported, retried",
                "retried; give-ups → 409",
                f"{attempts[0] - m.operations} retries, {gave_up[0]} x 409",
                True,
            ),
        ],
    )
    return row


def _evolve_with_replace(state: DeviceState | None, event: object) -> DeviceState:
    """``Device.evolve`` as it was before ``evolve_all``, for the renames this row's stream holds."""
    if state is not None and isinstance(event, DeviceRenamed):
        return dataclasses.replace(state, name=event.name)
    return Device.evolve(state, event)  # type: ignore[arg-type]


async def aggregate_load(ctx: Context) -> RowResult:
    sz = ctx.sizes
    registry = build_registry()
    device_id = f"agg-{ctx.run_id}"
    every = sz.aggregate_events
    device = Device.register(RegisterDevice(device_id, "agg", "site-1", "thermo", (Metric("temperature", "C"),)))
    for i in range(sz.aggregate_events - 1):
        device.update(UpdateDevice(device_id, name=f"name {i}"))
    async with postgres_unit_of_work(ctx.pool, registry, snapshot_every={"Device": every}) as uow:
        uow.devices.add(device)
        await uow.commit()  # appends all events in one go; the snapshot is written at version ``every``
    snap = await ctx.pool.fetchval("SELECT stream_version FROM snapshots WHERE stream_id = $1", device_id)

    def loads(snapshot_every: int) -> Any:
        async def run(_: int) -> Measurement:
            lat: list[float] = []
            reset_peak_rss()
            start = time.perf_counter()
            for _ in range(sz.aggregate_loads):
                t0 = time.perf_counter()
                async with postgres_unit_of_work(ctx.pool, registry, snapshot_every={"Device": snapshot_every}) as u:
                    found = await u.devices.find(device_id)
                lat.append(time.perf_counter() - t0)
                assert found is not None and found.version == sz.aggregate_events
            return Measurement(len(lat), time.perf_counter() - start, 0, lat, peak_rss_mb())

        return run

    async def old_path(_: int) -> Measurement:
        """Diagnostic: the load path before read_for_replay/evolve_all (full RecordedEvents, dict
        payloads decoded by the jsonb codec, one frozen state per event), for a same-run comparison."""
        lat: list[float] = []
        reset_peak_rss()
        start = time.perf_counter()
        for _ in range(sz.aggregate_loads):
            t0 = time.perf_counter()
            async with ctx.pool.acquire() as conn:
                records = await PostgresEventStore(conn).read_stream(device_id)
            state = None
            for r in records:
                state = _evolve_with_replace(state, registry.decode_record(r))
            lat.append(time.perf_counter() - t0)
            assert state is not None and records[-1].stream_version == sz.aggregate_events
        return Measurement(len(lat), time.perf_counter() - start, 0, lat, peak_rss_mb())

    runs = await interleave(
        sz.rounds,
        {
            "without snapshot": loads(0),
            "with snapshot": loads(every),
            "without snapshot, path before (diagnostic)": old_path,
        },
    )
    row = RowResult(
        "aggregate load",
        ctx.engine,
        f"{sz.aggregate_events}-event stream, {sz.aggregate_loads} sequential loads (pool acquire + read + replay)",
        summaries(runs),
        [],
        notes=[f"snapshot at version {snap}"],
    )
    row.checks = [
        ceiling_check("p99 without snapshot", row.variant("without snapshot").p99_ms, 10, "ms"),
        ceiling_check("p99 with snapshot", row.variant("with snapshot").p99_ms, 3, "ms"),
    ]
    return row


ROWS = {
    "append": single_append,
    "batch": batch_append,
    "hot": hot_stream,
    "aggregate": aggregate_load,
}

__all__ = ["ROWS", "prepare"]
