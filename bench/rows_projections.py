"""Projection rows: rebuild (catch-up) throughput vs a raw scan of the same events, and lag under load."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.projections import store
from sensorhub.projections.by_name import all_projections
from sensorhub.projections.projector import Projector
from sensorhub.projections.runner import RunnerConfig

from bench.context import Context
from bench.core import Check, Measurement, RowResult, interleave, peak_rss_mb, reset_peak_rss, summaries

# About 6 events per device: registered, threshold, renamed, moved, an alert raised, some acked/resolved.
# (The same generator as tests/projections/support.py, written server-side in chunks.)
from tests.projections.support import append_history

CONFIG = RunnerConfig(poll_interval_s=0.2, lock_retry_s=0.2, heartbeat_interval_s=0.5)
RAW_SCAN = (
    "SELECT event_id, stream_id, stream_version, position, transaction_id::text AS transaction_id, type,"
    " schema_version, data, metadata, recorded_at FROM events WHERE position > $1 ORDER BY position LIMIT $2"
)


@contextlib.asynccontextmanager
async def projector(ctx: Context, config: RunnerConfig = CONFIG) -> AsyncIterator[Projector]:
    p = Projector(ctx.url, None, config)
    stop = asyncio.Event()
    task = asyncio.create_task(p.run(stop))
    try:
        yield p
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _caught_up(ctx: Context) -> bool:
    rows = await ctx.pool.fetch(
        "SELECT p.name, p.shadow_generation, p.rebuild_requested_at, c.position FROM projections p"
        " JOIN projection_checkpoints c ON c.name = p.name AND c.generation = p.live_generation"
    )
    last = await ctx.pool.fetchval("SELECT coalesce(max(position), 0) FROM events")
    return bool(rows) and all(
        r["shadow_generation"] is None and r["rebuild_requested_at"] is None and r["position"] >= last for r in rows
    )


async def _wait(ctx: Context, limit_s: float = 3600) -> None:
    deadline = time.monotonic() + limit_s
    while not await _caught_up(ctx):
        if time.monotonic() > deadline:
            raise TimeoutError("projections did not catch up")
        await asyncio.sleep(0.05)


async def catch_up(ctx: Context) -> list[RowResult]:
    sz = ctx.sizes
    devices = max(10, sz.projection_events // 6)
    async with ctx.pool.acquire() as conn:
        have = await conn.fetchval("SELECT count(*) FROM streams WHERE stream_id LIKE 'dev-%'")
        if have < devices:
            await append_history(conn, int(have) + 1, devices, chunk=min(5000, devices))
    events = int(await ctx.pool.fetchval("SELECT count(*) FROM events"))
    names = sorted(all_projections())
    out: list[RowResult] = []
    async with projector(ctx) as _:
        await _wait(ctx)  # the first catch-up (generation 1)

        def rebuild(name: str) -> Any:
            async def run(_: int) -> Measurement:
                reset_peak_rss()
                start = time.perf_counter()
                async with ctx.pool.acquire() as conn:
                    assert await store.request_rebuild(conn, name)
                await _wait(ctx)
                return Measurement(1, time.perf_counter() - start, events, [], peak_rss_mb())

            return run

        async def raw(_: int) -> Measurement:
            reset_peak_rss()
            start = time.perf_counter()
            after, seen = 0, 0
            async with ctx.pool.acquire() as conn:
                while True:
                    rows = await conn.fetch(RAW_SCAN, after, CONFIG.rebuild_batch_size)
                    if not rows:
                        break
                    seen += len(rows)
                    after = rows[-1]["position"]
            assert seen == events
            return Measurement(1, time.perf_counter() - start, events, [], peak_rss_mb())

        variants: dict[str, Any] = {f"rebuild {n}": rebuild(n) for n in names}
        variants["raw SELECT scan"] = raw
        runs = await interleave(sz.rounds, variants)
    row = RowResult(
        "projection catch-up",
        ctx.engine,
        f"rebuild of one projection over {events:,} events (batches of {CONFIG.rebuild_batch_size}), "
        "shadow generation then swap; raw = the same rows read in the same batches",
        summaries(runs),
        [],
    )
    for n in names:
        tp = row.variant(f"rebuild {n}").throughput
        row.checks.append(Check(f"{n}: events/s", ">= 25,000/s", f"{tp:,.0f}/s", tp >= 25_000))
        r = row.ratio(f"rebuild {n}", "raw SELECT scan")
        row.checks.append(Check(f"{n}: vs raw scan", ">= 0.3x", f"{r:.2f}x", r >= 0.3))
    if events < 1_000_000:
        row.notes.append(f"{events:,} events, not the 1 M of PERFORMANCE.md (scaled run)")
    out.append(row)
    return out


_APPEND = (
    "SELECT position, transaction_id FROM eventstore_append($1, 'Device', 'any', $2::uuid[], $3::text[], $4::int[],"
    " $5::jsonb[], $6::jsonb[])"
)


async def lag(ctx: Context) -> RowResult:
    """Events appended at ``lag_rate``/s (10 per append) while the projector runs; lag = from the
    append's commit to the moment every projection's checkpoint covers the event."""
    sz = ctx.sizes
    per_append = 10
    appends_per_s = sz.lag_rate / per_append
    pending: list[tuple[int, int, float]] = []  # (tx, position, committed at)
    lags: list[float] = []
    stop = asyncio.Event()
    notifier = AppendNotifier(ctx.pool)

    async def writer() -> None:
        i = 0
        start = time.perf_counter()
        while not stop.is_set():
            due = start + i / appends_per_s
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            device_id = f"lag-{i % 200}"
            rows = await ctx.pool.fetch(
                _APPEND,
                device_id,
                [uuid.uuid4() for _ in range(per_append)],
                ["DeviceRenamed"] * per_append,
                [1] * per_append,
                [{"device_id": device_id, "name": f"n{i}-{k}"} for k in range(per_append)],
                [{}] * per_append,
            )
            t = time.perf_counter()
            notifier.committed(rows[-1]["position"])  # as the service does after a commit
            pending.extend((int(r["transaction_id"]), r["position"], t) for r in rows)
            i += 1

    async def watcher() -> None:
        while not stop.is_set() or pending:
            cps = await ctx.pool.fetch(
                "SELECT c.transaction_id::text AS tx, c.position FROM projections p"
                " JOIN projection_checkpoints c ON c.name = p.name AND c.generation = p.live_generation"
            )
            low = min((int(c["tx"]), c["position"]) for c in cps)
            now = time.perf_counter()
            keep = []
            for tx, pos, t in pending:
                if (tx, pos) <= low:
                    lags.append(now - t)
                else:
                    keep.append((tx, pos, t))
            pending[:] = keep
            await asyncio.sleep(0.005)

    # Every lag-* device must exist for the registry projection to apply renames to it.
    async with ctx.pool.acquire() as conn:
        for d in range(200):
            if await conn.fetchval("SELECT 1 FROM streams WHERE stream_id = $1", f"lag-{d}"):
                continue
            registered = {"device_id": f"lag-{d}", "name": "x", "site": "s", "kind": "k",
                          "metrics": [{"name": "temperature", "unit": "C"}]}
            await conn.fetch(_APPEND, f"lag-{d}", [uuid.uuid4()], ["DeviceRegistered"], [1], [registered], [{}])
    async with projector(ctx):
        await _wait(ctx)
        reset_peak_rss()
        start = time.perf_counter()
        w = asyncio.create_task(writer())
        v = asyncio.create_task(watcher())
        await asyncio.sleep(sz.lag_seconds)
        stop.set()
        await w
        await asyncio.wait_for(v, 60)
        elapsed = time.perf_counter() - start
    await notifier.aclose()
    m = Measurement(len(lags), elapsed, len(lags), lags, peak_rss_mb())
    row = RowResult(
        "projection lag",
        ctx.engine,
        f"{sz.lag_rate:,} events/s offered ({per_append} per append) for {sz.lag_seconds:g} s, projector in-process; "
        "lag = commit to every projection's checkpoint covering the event (5 ms polling)",
        summaries({"sensorhub projector": [m]}),
        [],
    )
    p99 = row.variant("sensorhub projector").p99_ms
    row.checks = [Check("p99 lag", "<= 200 ms", f"{p99:.1f} ms" if p99 else "n/a", p99 is not None and p99 <= 200)]
    row.notes.append(f"achieved {len(lags) / elapsed:,.0f} events/s")
    return row


ROWS = {"catch-up": catch_up, "lag": lag}
