"""What a query row runs on: the database settled as a running system keeps it, and the report says
what each row loaded (issue 18: the bucket row measures the query, not autovacuum)."""

from __future__ import annotations

import asyncpg

from bench.report import markdown
from bench.settle import settle


async def test_settle_vacuums_and_analyses_every_table(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for table in ("bench_settle_a", "bench_settle_b"):
            await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
            await conn.execute(f"INSERT INTO {table} SELECT g, 'x' FROM generate_series(1, 2000) g")
            await conn.execute(f"DELETE FROM {table} WHERE id % 2 = 0")
        await conn.execute("SELECT pg_stat_force_next_flush()")

    done = await settle(pool)

    rows = await pool.fetch(
        "SELECT relname, n_dead_tup, last_vacuum, last_analyze FROM pg_stat_user_tables "
        "WHERE relname LIKE 'bench_settle_%' ORDER BY relname"
    )
    assert [r["relname"] for r in rows] == ["bench_settle_a", "bench_settle_b"]
    for r in rows:
        assert r["n_dead_tup"] == 0, dict(r)
        assert r["last_vacuum"] is not None and r["last_analyze"] is not None, dict(r)
    # The planner's statistics exist for both (not only for the table a row loaded).
    analysed = await pool.fetchval(
        "SELECT count(DISTINCT tablename) FROM pg_stats WHERE tablename LIKE 'bench_settle_%'"
    )
    assert analysed == 2
    assert "VACUUM (ANALYZE) of every table" in done and "no autovacuum worker running" in done, done


def test_report_states_each_rows_workload() -> None:
    result = {
        "meta": {
            "started_at": "2026-12-01T17:00:00+00:00", "sizes": "full x0.1", "rounds": 3, "seconds": 1.0,
            "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 1.0, "kernel": "k", "python": "3",
                        "asyncpg": "0", "load_average": (1.0, 1.0, 1.0)},
        },
        "settings": {},
        "rows": [
            {"row": "bucket query, 300,000 rows", "engine": "postgres",
             "workload": "table of 301,000 rows: the queried series (8,640 readings)", "checks": [],
             "variants": [{"name": "sensorhub buckets", "throughput": 1.0, "throughputs": [1.0], "p50_ms": 1.0,
                           "p95_ms": 1.0, "p99_ms": 1.0, "peak_rss_mb": None, "extra": {}}],
             "notes": []},
            {"row": "latest per series", "engine": "postgres", "workload": "never ran", "checks": [],
             "variants": [], "skipped": "failed: boom"},
        ],
    }
    md = markdown(result)
    assert "### Workloads" in md
    assert "* bucket query, 300,000 rows (postgres): table of 301,000 rows: the queried series (8,640 readings)" in md
    assert "never ran" not in md
