"""The append row's CPU ratio (client + server CPU per append, from /proc): a local server's
processes are counted, and a server that is not on this machine gives no figure rather than a
wrong one."""

from __future__ import annotations

import asyncpg

from bench.core import CpuMark, Measurement, cpu_mark, cpu_used_s
from bench.rows_eventstore import _cpu_ratio


async def test_a_local_server_is_counted_and_its_work_shows(pool: asyncpg.Pool) -> None:
    before = await cpu_mark(pool)
    assert before.server  # the test clusters run here: every listed process found
    await pool.execute("SELECT count(*) FROM generate_series(1, 3000000)")
    used = cpu_used_s(before, await cpu_mark(pool))
    assert used is not None and used > 0.05


def test_no_server_figure_means_no_ratio() -> None:
    remote = CpuMark(1.0, None)
    assert cpu_used_s(remote, CpuMark(2.0, {1: 1.0})) is None
    runs = {"ours": [Measurement(10, 1.0)], "raw": [Measurement(10, 1.0)]}
    assert _cpu_ratio(runs, "ours", "raw").measured == "n/a (server not local)"
    runs["ours"][0].extra["cpu_us_per_op"] = 500.0
    runs["raw"][0].extra["cpu_us_per_op"] = 400.0
    assert _cpu_ratio(runs, "ours", "raw").measured == "0.80x (500 vs 400 µs)"
