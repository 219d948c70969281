"""Where a readings-ingest batch's time goes, next to the raw staging path of the bench row (issue 18).

    python -m bench.ingest_profile postgresql://postgres@127.0.0.1:PORT/postgres [batches] [--cprofile FILE]

Creates (and drops) a database ``ingest_profile`` with the bench row's 3,000 series. Runs
``batches`` batches of 10 k readings one after another on one connection, alternating the raw
staging ``COPY`` + ``ON CONFLICT`` and ``ReadingsIngest.ingest`` (its upkeep drained inline, so it
is counted), and reports per batch: wall time, the client's CPU (this process), the server
backend's CPU (``/proc``: the server must run on this machine), WAL records and bytes
(``pg_stat_wal``: use a private cluster), and every statement (round trip) with its median time.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from sensorhub.db import init_connection
from sensorhub.eventstore.event_types import build_registry
from sensorhub.ingest.catalog import EventStoreDeviceCatalog
from sensorhub.ingest.rows import Parsed
from sensorhub.ingest.service import ReadingsIngest
from sensorhub.timeseries.store import Reading, TimeSeriesStore

from bench.append_profile import _backend_cpu_s
from bench.context import Context, prepare_schema, with_database
from bench.core import Sizes
from bench.rows_timeseries import Batches, ensure_devices, raw_write

BATCH = 10_000
SERIES = 3000
_TIMED = ("execute", "fetch", "fetchrow", "fetchval", "copy_records_to_table")


@contextmanager
def statement_log() -> Iterator[dict[str, list[float]]]:
    """Time every statement a connection sends (keyed by its first words), while in the block."""
    log: dict[str, list[float]] = defaultdict(list)
    saved = {name: getattr(asyncpg.Connection, name) for name in _TIMED}

    def timed(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
            key = name if name == "copy_records_to_table" else " ".join(str(args[0]).split())[:60]
            t0 = time.perf_counter()
            try:
                return await method(self, *args, **kwargs)
            finally:
                log[key].append(time.perf_counter() - t0)

        return wrapper

    for name, method in saved.items():
        setattr(asyncpg.Connection, name, timed(name, method))
    try:
        yield log
    finally:
        for name, method in saved.items():
            setattr(asyncpg.Connection, name, method)


async def _wal(conn: asyncpg.Connection) -> tuple[int, int]:
    row = await conn.fetchrow("SELECT wal_records, wal_bytes FROM pg_stat_wal")
    assert row is not None
    return int(row[0]), int(row[1])


async def main(url: str, batches: int, cprofile_file: str | None) -> None:
    admin = await asyncpg.connect(url)
    await admin.execute("DROP DATABASE IF EXISTS ingest_profile WITH (FORCE)")
    await admin.execute("CREATE DATABASE ingest_profile")
    db_url = with_database(url, "ingest_profile")
    await prepare_schema(db_url)
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1, init=init_connection)
    watcher = await asyncpg.connect(db_url)
    try:
        ctx = Context("?", url, db_url, pool, pool, Sizes.full(0.1), "profile")
        all_series = await ensure_devices(ctx, SERIES)
        async with pool.acquire() as conn:
            store = await TimeSeriesStore.open(conn)
            pid = conn.get_server_pid()
        registry = build_registry()
        ingest = ReadingsIngest(
            pool, store, EventStoreDeviceCatalog(registry), registry, retention_days=30, upkeep_delay=None
        )
        gen = Batches(all_series, BATCH * batches * 2, BATCH)
        async with pool.acquire() as conn:
            await store.ensure_days(conn, {(gen.origin + timedelta(days=i)).date() for i in range(4)})
        work = gen.for_run()

        async def ours(batch: list[Reading]) -> None:
            result = await ingest.ingest(Parsed(list(enumerate(batch)), []))
            assert result.accepted == len(batch)

        async def raw(batch: list[Reading]) -> None:
            await raw_write(ctx, batch)

        variants: dict[str, Callable[[list[Reading]], Awaitable[None]]] = {"raw": raw, "ingest": ours}
        figures: dict[str, dict[str, list[float]]] = {n: defaultdict(list) for n in variants}
        logs: dict[str, dict[str, list[float]]] = {}
        profiler = cProfile.Profile() if cprofile_file else None
        for i, batch in enumerate(work):
            name = "raw" if i % 2 == 0 else "ingest"
            wal0, server0, cpu0, t0 = await _wal(watcher), _backend_cpu_s(pid), time.process_time(), time.perf_counter()
            with statement_log() as log:
                if profiler is not None and name == "ingest":
                    profiler.enable()
                await variants[name](batch)
                if profiler is not None:
                    profiler.disable()
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            server, wal1 = _backend_cpu_s(pid) - server0, await _wal(watcher)
            f = figures[name]
            f["wall ms"].append(wall * 1e3)
            f["client CPU ms"].append(cpu * 1e3)
            f["server CPU ms"].append(server * 1e3)
            f["WAL records"].append(wal1[0] - wal0[0])
            f["WAL kB"].append((wal1[1] - wal0[1]) / 1024)
            f["round trips"].append(sum(len(v) for v in log.values()))
            for key, times in log.items():
                logs.setdefault(name, defaultdict(list))[key].extend(times)  # type: ignore[arg-type]
        n = len(work) // 2
        print(f"{n} batches of {BATCH:,} each, {SERIES} series, one connection, medians, load {os.getloadavg()}")
        print("| per batch | " + " | ".join(variants) + " |")
        print("|---|" + "---|" * len(variants))
        for metric in figures["raw"]:
            cells = " | ".join(f"{statistics.median(figures[v][metric]):.1f}" for v in variants)
            print(f"| {metric} | {cells} |")
        for name, log in logs.items():
            print(f"\n{name}: statements per batch and median ms")
            for key, times in sorted(log.items(), key=lambda kv: -sum(kv[1])):
                print(f"  {len(times) / n:4.1f} x {statistics.median(times) * 1e3:7.2f} ms  {key}")
        if profiler is not None and cprofile_file:
            profiler.dump_stats(cprofile_file)
    finally:
        await watcher.close()
        await pool.close()
        await admin.execute("DROP DATABASE IF EXISTS ingest_profile WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    out = None
    if "--cprofile" in args:
        k = args.index("--cprofile")
        out = args[k + 1]
        del args[k : k + 2]
    asyncio.run(main(args[0], int(args[1]) if len(args) > 1 else 20, out))
