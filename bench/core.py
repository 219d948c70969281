"""Measuring: timed concurrent loops, percentiles, peak memory, interleaved variants, rows of results."""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Sizes:
    """Workload sizes: ``full`` is PERFORMANCE.md's table; ``smoke`` only proves the code still runs."""

    name: str
    rounds: int
    append_seconds: float
    append_writers: int
    batch_writers: int
    batch_size: int
    hot_seconds: float
    hot_writers: int
    aggregate_events: int
    aggregate_loads: int
    projection_events: int
    lag_rate: int
    lag_seconds: float
    readings: int
    reading_batch: int
    http_batch: int
    series: int
    bucket_rows: tuple[int, ...]
    bucket_queries: int
    latest_series: int

    @classmethod
    def full(cls, scale: float = 1.0) -> Sizes:
        def s(n: float) -> int:
            return max(1, int(n * scale))

        return cls(
            name="full" if scale == 1.0 else f"full x{scale:g}",
            rounds=3,
            append_seconds=6.0,
            append_writers=32,
            batch_writers=4,
            batch_size=100,
            hot_seconds=10.0,
            hot_writers=16,
            aggregate_events=1000,
            aggregate_loads=200,
            projection_events=s(1_000_000),
            lag_rate=1000,
            lag_seconds=20.0,
            readings=s(3_000_000),
            reading_batch=10_000,
            http_batch=5_000,
            series=3000,
            bucket_rows=(s(3_000_000), s(50_000_000)),
            bucket_queries=300,
            latest_series=3000,
        )

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(
            name="smoke",
            rounds=1,
            append_seconds=0.3,
            append_writers=4,
            batch_writers=2,
            batch_size=20,
            hot_seconds=0.5,
            hot_writers=4,
            aggregate_events=60,
            aggregate_loads=10,
            projection_events=600,
            lag_rate=100,
            lag_seconds=1.0,
            readings=4000,
            reading_batch=1000,
            http_batch=500,
            series=50,
            bucket_rows=(4000,),
            bucket_queries=10,
            latest_series=50,
        )


@dataclass
class Measurement:
    """One run of one variant."""

    operations: int
    seconds: float
    items: int = 0  # events/rows moved (``operations`` when zero)
    latencies: list[float] = field(default_factory=list)  # seconds, one per operation
    peak_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return (self.items or self.operations) / self.seconds if self.seconds > 0 else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


@dataclass
class VariantSummary:
    name: str
    throughput: float  # median of runs, items/s
    throughputs: list[float]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    peak_rss_mb: float | None
    extra: dict[str, Any]

    @classmethod
    def of(cls, name: str, runs: list[Measurement]) -> VariantSummary:
        tps = [m.throughput for m in runs]
        # Percentiles of the median run (by throughput): pooled runs would mix drifting machine speeds.
        median_run = sorted(runs, key=lambda m: m.throughput)[len(runs) // 2]
        lat = median_run.latencies

        def ms(q: float) -> float | None:
            v = percentile(lat, q)
            return None if v is None else round(v * 1000, 3)

        peaks = [m.peak_rss_mb for m in runs if m.peak_rss_mb is not None]
        extra: dict[str, Any] = {}
        for m in runs:
            for k, v in m.extra.items():
                extra.setdefault(k, []).append(v)
        return cls(
            name=name,
            throughput=round(statistics.median(tps), 1),
            throughputs=[round(t, 1) for t in tps],
            p50_ms=ms(50),
            p95_ms=ms(95),
            p99_ms=ms(99),
            peak_rss_mb=max(peaks) if peaks else None,
            extra={k: v[0] if len(v) == 1 else v for k, v in extra.items()},
        )


@dataclass
class Check:
    """One target from PERFORMANCE.md and whether this run met it."""

    description: str
    target: str
    measured: str
    ok: bool | None  # None: not applicable / could not be judged


@dataclass
class RowResult:
    row: str
    engine: str
    workload: str
    variants: list[VariantSummary]
    checks: list[Check]
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def variant(self, name: str) -> VariantSummary:
        return next(v for v in self.variants if v.name == name)

    def ratio(self, ours: str, baseline: str) -> float:
        b = self.variant(baseline).throughput
        return round(self.variant(ours).throughput / b, 3) if b else float("nan")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- memory


def reset_peak_rss(pid: int | None = None) -> None:
    """Reset VmHWM (Linux: writing 5 to clear_refs), so the next reading is this run's peak."""
    try:
        with open(f"/proc/{pid or os.getpid()}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


@dataclass
class CpuMark:
    """CPU seconds used so far: this process, and each local server process (None: not local)."""

    client: float
    server: dict[int, float] | None


def postgres_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a local PostgreSQL process, None when ``pid`` is not one here."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    name, _, rest = stat.partition(" (")[2].rpartition(") ")
    if name != "postgres":
        return None
    fields = rest.split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_mark(pool: Any) -> CpuMark:
    """Where the CPU stands: this process, and every server process ``pg_stat_activity`` lists
    (backends, WAL writer, checkpointer) when the server runs on this machine."""
    pids = [r[0] for r in await pool.fetch("SELECT pid FROM pg_stat_activity")]
    server = {pid: cpu for pid in pids if (cpu := postgres_cpu_s(pid)) is not None}
    return CpuMark(time.process_time(), server if len(server) == len(pids) else None)


def cpu_used_s(before: CpuMark, after: CpuMark) -> float | None:
    """Client + server CPU seconds between two marks; None when the server's is unknown."""
    if before.server is None or after.server is None:
        return None
    server = sum(after.server[p] - before.server[p] for p in after.server if p in before.server)
    return after.client - before.client + server


def peak_rss_mb(pid: int | None = None) -> float | None:
    try:
        with open(f"/proc/{pid or os.getpid()}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------- loops


async def timed_writers(
    writers: int, seconds: float, op: Callable[[int, int], Awaitable[int]]
) -> Measurement:
    """``writers`` coroutines call ``op(writer, i)`` until ``seconds`` pass; ``op`` returns items moved."""
    latencies: list[float] = []
    items = 0
    reset_peak_rss()
    start = time.perf_counter()
    deadline = start + seconds

    async def writer(w: int) -> None:
        nonlocal items
        i = 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            moved = await op(w, i)  # not ``items += await ...``: that reads ``items`` before awaiting
            latencies.append(time.perf_counter() - t0)
            items += moved
            i += 1

    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - start
    return Measurement(len(latencies), elapsed, items, latencies, peak_rss_mb())


def timed_threads(writers: int, seconds: float, op: Callable[[int, int], int]) -> Measurement:
    """The same loop for blocking clients, one OS thread per writer."""
    latencies: list[float] = []
    items = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []
    reset_peak_rss()
    barrier = threading.Barrier(writers + 1)
    deadline = [0.0]

    def writer(w: int) -> None:
        mine: list[float] = []
        moved = 0
        barrier.wait()
        i = 0
        try:
            while time.perf_counter() < deadline[0]:
                t0 = time.perf_counter()
                moved += op(w, i)
                mine.append(time.perf_counter() - t0)
                i += 1
        except BaseException as exc:
            errors.append(exc)
        with lock:
            latencies.extend(mine)
            items[0] += moved

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return Measurement(len(latencies), elapsed, items[0], latencies, peak_rss_mb())


async def interleave(
    rounds: int, variants: dict[str, Callable[[int], Awaitable[Measurement]]]
) -> dict[str, list[Measurement]]:
    """Run every variant once per round, rotating the order each round, so drift hits all alike."""
    names = list(variants)
    out: dict[str, list[Measurement]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            out[name].append(await variants[name](r))
    return out


def summaries(runs: dict[str, list[Measurement]]) -> list[VariantSummary]:
    return [VariantSummary.of(name, ms) for name, ms in runs.items()]


def ratio_check(row: RowResult, ours: str, baseline: str, minimum: float, label: str) -> Check:
    r = row.ratio(ours, baseline)
    return Check(label, f"≥ {minimum:g}x", f"{r:.2f}x", r >= minimum)


def reported_ratio(row: RowResult, ours: str, baseline: str, label: str) -> Check:
    """A diagnostic ratio: shown in the targets table, judged against no target."""
    return Check(label, "(reported)", f"{row.ratio(ours, baseline):.2f}x", None)


def ceiling_check(label: str, value: float | None, maximum: float, unit: str) -> Check:
    if value is None:
        return Check(label, f"≤ {maximum:g} {unit}", "n/a", None)
    return Check(label, f"≤ {maximum:g} {unit}", f"{value:.2f} {unit}", value <= maximum)
