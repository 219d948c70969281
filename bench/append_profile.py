"""Where a single-event append's time goes, next to the raw INSERT of the bench row (issue 18).

    python -m bench.append_profile postgresql://postgres@127.0.0.1:PORT/postgres [seconds [stored events]]

Creates (and drops) a database ``append_profile``. For each variant — the raw INSERT, the store's
append (its plain-SQL path, issue 18), and the 0006 PL/pgSQL function as the store called it —
it runs 32 writers on one pool for ``seconds`` (interleaved, 3 rounds) and reports per append:
throughput, the client's CPU (this process), the server's CPU (every process of the cluster that
``pg_stat_activity`` lists — backends, WAL writer, checkpointer —, from ``/proc``: the server must
run on this machine), the notifications sent (the bench row's ``sensorhub`` variant appends with
the ``AppendNotifier``), the server's WAL records and bytes (``pg_stat_wal``: use a private
cluster), and the share of the ``streams`` updates that were HOT. CPU time is what a process
used, not wall time: robust to other load on the machine, unlike appends/s. Then it times each
statement's executor alone (``EXPLAIN (ANALYZE, BUFFERS, WAL)``, sequential, median of 300).
"""

from __future__ import annotations

import asyncio
import functools
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import asyncpg
from sensorhub import migrations
from sensorhub.application.stored_events import NewEvent
from sensorhub.db import Conn, init_connection
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.eventstore.postgres import _APPEND_AT, _APPEND_AT_UNPROBED, PostgresEventStore

from bench.core import cpu_mark, postgres_cpu_s
from bench.rows_eventstore import _APPEND_0006, RAW_INSERT, RAW_TABLE, payload

WRITERS = 32
SEQUENTIAL = 3000


async def _wal(pool: asyncpg.Pool) -> tuple[int, int]:
    row = await pool.fetchrow("SELECT wal_records, wal_bytes FROM pg_stat_wal")
    assert row is not None
    return int(row[0]), int(row[1])


async def _streams_updates(pool: asyncpg.Pool) -> tuple[int, int]:
    await pool.execute("SELECT pg_stat_force_next_flush()")
    row = await pool.fetchrow("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'streams'")
    return (int(row[0]), int(row[1])) if row else (0, 0)


class _CountingPool:
    """The pool as the notifier sees it, counting its acquisitions (one per NOTIFY sent). Nobody
    listens, as in the bench row (a listening projector would add its own wake-ups)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.acquired: list[int] = []

    def acquire(self, *, timeout: float | None = None) -> Any:
        self.acquired.append(1)
        return self._pool.acquire(timeout=timeout)


async def _run(
    pool: asyncpg.Pool, seconds: float, op: Callable[[int, int], Awaitable[None]], notices: list[int]
) -> dict[str, float]:
    count = 0
    wal0, upd0 = await _wal(pool), await _streams_updates(pool)
    notices0 = len(notices)
    server0 = (await cpu_mark(pool)).server
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + seconds

    async def writer(w: int) -> None:
        nonlocal count
        i = 0
        while time.perf_counter() < deadline:
            await op(w, i)
            i += 1
            count += 1

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    cpu, elapsed = time.process_time() - cpu0, time.perf_counter() - t0
    await asyncio.sleep(0.05)  # the last notification's round trip
    server1 = (await cpu_mark(pool)).server
    server = (  # NaN when a listed process was not found here (ended meanwhile, or a remote server)
        sum(server1[p] - server0[p] for p in server1 if p in server0) if server0 and server1 else float("nan")
    )
    wal1, upd1 = await _wal(pool), await _streams_updates(pool)
    updates = upd1[0] - upd0[0]
    return {
        "appends_per_s": count / elapsed,
        "client_cpu_us": cpu / count * 1e6,
        "server_cpu_us": server / count * 1e6,
        "notifications": (len(notices) - notices0) / count,
        "wal_records": (wal1[0] - wal0[0]) / count,
        "wal_bytes": (wal1[1] - wal0[1]) / count,
        "streams_hot_share": (upd1[1] - upd0[1]) / updates if updates else float("nan"),
    }


async def _explain(conn: Conn, sql: str, args: Callable[[int], tuple[Any, ...]]) -> dict[str, float]:
    planning: list[float] = []
    times: list[float] = []
    wal: list[float] = []
    for i in range(300):
        value = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) {sql}", *args(i))
        plan: dict[str, Any] = (json.loads(value) if isinstance(value, str) else value)[0]  # type: ignore[index]
        planning.append(plan.get("Planning Time", 0.0))
        times.append(plan["Execution Time"])
        wal.append(plan["Plan"].get("WAL Bytes", 0))
    return {
        "planning_ms_p50": statistics.median(planning),
        "executor_ms_p50": statistics.median(times),
        "wal_bytes_p50": statistics.median(wal),
    }


def _backend_cpu_s(pid: int) -> float:
    """User + system CPU of one server process so far (needs the server on this machine)."""
    cpu = postgres_cpu_s(pid)
    if cpu is None:
        raise RuntimeError(f"no PostgreSQL process {pid} on this machine: the profile needs a local server")
    return cpu


async def sequential_cpu(conn: Conn, n: int, op: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    """Client and server CPU µs per operation, ``n`` operations one after another on one connection."""
    pid = conn.get_server_pid()
    server0, client0 = _backend_cpu_s(pid), time.process_time()
    for i in range(n):
        await op(i)
    return (time.process_time() - client0) / n * 1e6, (_backend_cpu_s(pid) - server0) / n * 1e6


_EVENTS_ONLY = (  # the plain-SQL append's INSERT without the stream row: what the row costs
    "INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
    " VALUES ($3, $1, $2 + 1, $4, $5, $6, $7) RETURNING position"
)
# What the append would cost with stream versions kept only in ``events`` (no ``streams`` write; the
# unique (stream_id, stream_version) index decides a lost race): the insert of version N + 1 only if
# version N is stored. Its floor: what it still needs (a guard against a racing archive, the readers
# of the version) is not in it. The second adds one such guard: the stream row locked FOR KEY SHARE.
_EVENTS_AFTER_PREVIOUS = (
    "INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
    " SELECT $3, $1, $2 + 1, $4, $5, $6, $7"
    " WHERE EXISTS (SELECT FROM events p WHERE p.stream_id = $1 AND p.stream_version = $2) RETURNING position"
)
_EVENTS_AFTER_PREVIOUS_KEY_SHARE = (
    "WITH s AS (SELECT FROM streams s WHERE s.stream_id = $1 AND s.archived_version IS NULL FOR KEY SHARE)"
    " INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
    " SELECT $3, $1, $2 + 1, $4, $5, $6, $7 FROM s"
    " WHERE EXISTS (SELECT FROM events p WHERE p.stream_id = $1 AND p.stream_version = $2) RETURNING position"
)
_RAW_LIKE_EVENTS = (  # the raw INSERT into a copy of events with all its indexes: what they cost
    "INSERT INTO bench_events_copy (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


def _shifted(op: Callable[[int], Awaitable[Any]], base: int, i: int) -> Awaitable[Any]:
    return op(base + i)


async def sequential(pool: asyncpg.Pool, n: int) -> None:
    """Client and server CPU per append, sequential (no waiting on others): robust to a loaded machine."""
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE bench_events_copy (LIKE events INCLUDING ALL)")
        store = PostgresEventStore(conn)
        data, meta = payload(0)
        ops: dict[str, Callable[[int], Awaitable[Any]]] = {
            "raw INSERT (bench baseline)": lambda i: conn.execute(
                RAW_INSERT, uuid.uuid4(), "s-raw", i + 1, "DeviceRenamed", 1, data, meta
            ),
            "raw INSERT into a copy of events (all its indexes, xid8 column)": lambda i: conn.execute(
                _RAW_LIKE_EVENTS, uuid.uuid4(), "s-copy", i + 1, "DeviceRenamed", 1, data, meta
            ),
            "events INSERT alone (no stream row, no probe)": lambda i: conn.fetchval(
                _EVENTS_ONLY, "s-ev", i, uuid.uuid4(), "DeviceRenamed", 1, data, meta
            ),
            "events INSERT after a probe of version N (versions in events only: floor)": lambda i: conn.fetchval(
                _EVENTS_AFTER_PREVIOUS, "s-prev", i + 1, uuid.uuid4(), "DeviceRenamed", 1, data, meta
            ),
            "the same + the stream row FOR KEY SHARE (archive guard)": lambda i: conn.fetchval(
                _EVENTS_AFTER_PREVIOUS_KEY_SHARE, "s-ks", i + 1, uuid.uuid4(), "DeviceRenamed", 1, data, meta
            ),
            "plain-SQL append statement, with the id probe (in a transaction; before)": lambda i: conn.fetchval(
                _APPEND_AT, "s-at", i, uuid.uuid4(), "DeviceRenamed", 1, data, meta
            ),
            "plain-SQL append statement, without the id probe (on its own)": lambda i: conn.fetchval(
                _APPEND_AT_UNPROBED, "s-un", i, uuid.uuid4(), "DeviceRenamed", 1, data, meta
            ),
            "store.append (plain SQL + client work)": lambda i: store.append(
                "s-store", "Device", [NewEvent(uuid.uuid4(), "DeviceRenamed", 1, data, meta)], i
            ),
            "0006 function (before)": lambda i: conn.fetch(
                _APPEND_0006, "s-f6", "Device", str(i), uuid.uuid4(), "DeviceRenamed", 1, data, meta
            ),
        }
        await conn.execute(
            "INSERT INTO streams VALUES ('s-at', 'Device', 0), ('s-un', 'Device', 0),"
            " ('s-prev', 'Device', 1), ('s-ks', 'Device', 1)"
        )
        await conn.execute(
            "INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data)"
            " SELECT gen_random_uuid(), s, 1, 'DeviceRenamed', 1, '{}' FROM unnest(ARRAY['s-prev', 's-ks']) AS s"
        )
        rounds: dict[str, list[tuple[float, float]]] = {}
        offsets = dict.fromkeys(ops, 0)
        for _ in range(3):
            for name, op in ops.items():
                base = offsets[name]
                shifted = functools.partial(_shifted, op, base)
                rounds.setdefault(name, []).append(await sequential_cpu(conn, n, shifted))
                offsets[name] += n
        print(f"\nsequential, one connection, {n} appends x 3 rounds: CPU µs per append (median)")
        print("| variant | client | server | total |")
        print("|---|---|---|---|")
        for name, runs in rounds.items():
            c = statistics.median(x[0] for x in runs)
            sv = statistics.median(x[1] for x in runs)
            print(f"| {name} | {c:.0f} | {sv:.0f} | {c + sv:.0f} |")


# Events already stored (``stored``, default 0), so that index probes and inserts land on pages of
# a table of realistic size: one stream of ``stored`` events, not counted in the figures.
_FILL = (
    "INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
    " SELECT gen_random_uuid(), 'fill', i, 'DeviceRenamed', 1, jsonb_build_object('n', i), '{}'"
    " FROM generate_series(1, $1) AS i"
)


async def main(url: str, seconds: float, stored: int = 0) -> None:
    admin = await asyncpg.connect(url)
    await admin.execute("DROP DATABASE IF EXISTS append_profile")
    await admin.execute("CREATE DATABASE append_profile")
    db_url = url.rsplit("/", 1)[0] + "/append_profile"
    # as the bench's pool: room for the notifier beside the writers
    pool = await asyncpg.create_pool(db_url, min_size=WRITERS, max_size=WRITERS + 8, init=init_connection)
    try:
        async with pool.acquire() as conn:
            await migrations.apply(conn)
            await conn.execute(RAW_TABLE)
            if stored:
                await conn.execute(_FILL, stored)
                await conn.execute("VACUUM (ANALYZE) events")
        await sequential(pool, SEQUENTIAL)
        if seconds <= 0:
            return
        store = PostgresEventStore(pool)
        counting = _CountingPool(pool)
        notifier = AppendNotifier(cast(asyncpg.Pool, counting))
        notified_store = PostgresEventStore(pool, notifier=notifier)
        notices = counting.acquired

        def variants(r: int) -> dict[str, Callable[[int, int], Awaitable[None]]]:
            async def raw(w: int, i: int) -> None:
                data, meta = payload(i)
                await pool.execute(RAW_INSERT, uuid.uuid4(), f"raw-{r}-{w}", i + 1, "DeviceRenamed", 1, data, meta)

            async def ours(w: int, i: int) -> None:
                data, meta = payload(i)
                await store.append(
                    f"ours-{r}-{w}", "Device", [NewEvent(uuid.uuid4(), "DeviceRenamed", 1, data, meta)], i
                )

            async def notified(w: int, i: int) -> None:
                data, meta = payload(i)
                await notified_store.append(
                    f"nt-{r}-{w}", "Device", [NewEvent(uuid.uuid4(), "DeviceRenamed", 1, data, meta)], i
                )

            async def before(w: int, i: int) -> None:
                data, meta = payload(i)
                await pool.fetch(
                    _APPEND_0006, f"f6-{r}-{w}", "Device", str(i), uuid.uuid4(), "DeviceRenamed", 1, data, meta
                )

            return {
                "raw INSERT": raw,
                "store.append (plain SQL)": ours,
                "store.append + AppendNotifier (the bench row's sensorhub)": notified,
                "0006 function": before,
            }

        results: dict[str, list[dict[str, float]]] = {}
        for r in range(3):
            names = list(variants(r))
            names = names[r % len(names) :] + names[: r % len(names)]
            for name in names:
                results.setdefault(name, []).append(await _run(pool, seconds, variants(r)[name], notices))
        await notifier.aclose()
        print(f"32 writers x {seconds:g} s x 3 rounds (medians per append)")
        print(
            "| variant | appends/s | client CPU µs | server CPU µs | total CPU µs | NOTIFYs | WAL records"
            " | WAL bytes | streams updates HOT |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, runs in results.items():
            med = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
            total = statistics.median(x["client_cpu_us"] + x["server_cpu_us"] for x in runs)
            print(
                f"| {name} | {med['appends_per_s']:,.0f} | {med['client_cpu_us']:.0f} | {med['server_cpu_us']:.0f}"
                f" | {total:.0f} | {med['notifications']:.3f} | {med['wal_records']:.2f}"
                f" | {med['wal_bytes']:.0f} | {med['streams_hot_share']:.0%} |"
            )
        async with pool.acquire() as conn:
            data, meta = payload(0)
            raw = await _explain(
                conn, RAW_INSERT, lambda i: (uuid.uuid4(), "x-raw", i + 1, "DeviceRenamed", 1, data, meta)
            )
            await conn.execute("INSERT INTO streams VALUES ('x-ours', 'Device', 0)")
            ours = await _explain(
                conn, _APPEND_AT, lambda i: ("x-ours", i, uuid.uuid4(), "DeviceRenamed", 1, data, meta)
            )
        print("\nexecutor alone, sequential, one connection (EXPLAIN ANALYZE, median of 300):")
        for name, x in (("raw INSERT", raw), ("plain-SQL append", ours)):
            print(
                f"{name}: executor {x['executor_ms_p50'] * 1000:.0f} µs (planning {x['planning_ms_p50'] * 1000:.0f} µs"
                f" when not prepared), {x['wal_bytes_p50']:.0f} WAL bytes"
            )
    finally:
        await pool.close()
        await admin.execute("DROP DATABASE IF EXISTS append_profile WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 4.0, int(sys.argv[3]) if len(sys.argv) > 3 else 0
        )
    )
