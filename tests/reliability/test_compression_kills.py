"""The maintenance worker SIGKILLed 20 times while it compresses sealed days, on every engine: every
reading is there exactly once (per series: count, distinct times, a digest of times and values),
nothing is left raw once a run completes, and queries answer as before.

Each kill needs a fresh process (2-4 s of imports on a busy 2-core machine): ~1-2 min per engine,
so it is in ``make test-long``.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sensorhub.db import init_connection
from sensorhub.timeseries import queries
from sensorhub.timeseries.store import BucketSpec, SeriesRange, TimeSeriesStore

from tests.projections.support import SENSORHUB, die_with_parent, kill, projector_env

KILLS = 20
DEVICES, EVERY_S, SEALED_DAYS = 120, 120, 4

_LOAD = """
INSERT INTO readings (device_id, metric, time, value)
SELECT 'dev-' || lpad(d::text, 4, '0'), m, $1::timestamptz + make_interval(secs => t * $3::int),
       round((20 + 5 * sin(t / 50.0 + d) + random())::numeric, 3)::float8
FROM generate_series(1, $2::int) d, unnest(ARRAY['temp', 'hum']) m, generate_series(0, 86400 / $3::int - 1) t
"""

_EVERY_READING = """
SELECT device_id, metric, time, value FROM readings
UNION ALL
SELECT p.device_id, p.metric, unnest(p.times), unnest(p.vals) FROM readings_packed p
"""

# Per series: readings, distinct times, and a digest of every (time, value) in time order.
_FINGERPRINT = f"""
SELECT device_id, metric, count(*) AS n, count(DISTINCT time) AS times,
       md5(string_agg(time::text || '=' || float8send(value)::text, ',' ORDER BY time)) AS digest
FROM ({_EVERY_READING}) r GROUP BY 1, 2 ORDER BY 1, 2
"""


async def _answers(conn: asyncpg.Connection, store: TimeSeriesStore, first_day: datetime) -> list[object]:
    out: list[object] = []
    for device in ("dev-0001", "dev-0077"):
        for width in ("1m", "1h"):
            spec = BucketSpec(queries.parse_bucket(width), ("avg", "min", "max", "count", "first", "last"), "none")
            rng = SeriesRange(device, "temp", first_day + timedelta(hours=7), first_day + timedelta(days=2, hours=3))
            out.append(await store.buckets(conn, rng, spec))
    return out


async def _others_gone(conn: asyncpg.Connection) -> None:
    """The killed worker's backend ends when it next talks to its client (after its statement)."""
    for _ in range(600):
        others = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        if not others:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the killed worker's backend is still running after 30 s")


@pytest.mark.long
async def test_twenty_sigkills_during_compression(engine: str, engine_database_url: str, tmp_path: Path) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=SEALED_DAYS + 1)
    conn = await asyncpg.connect(engine_database_url)
    await init_connection(conn)
    try:
        store = await TimeSeriesStore.open(conn)
        await store.ensure_days(conn, [(first_day + timedelta(days=i)).date() for i in range(SEALED_DAYS + 2)])
        for i in range(SEALED_DAYS):
            await conn.execute(_LOAD, first_day + timedelta(days=i), DEVICES, EVERY_S)
        await conn.execute("ANALYZE readings")
        total = DEVICES * 2 * SEALED_DAYS * 86400 // EVERY_S
        fingerprint = [tuple(r) for r in await conn.fetch(_FINGERPRINT)]
        answers = await _answers(conn, store, first_day)
        assert sum(r[2] for r in fingerprint) == total

        env = projector_env(
            engine_database_url,
            SENSORHUB_COMPRESS_AFTER_DAYS="1",
            SENSORHUB_COMPRESSION_DUTY="1",  # no pauses: the kills and the final run stay within their time
            SENSORHUB_ARCHIVE_DEVICE_GROUPS="120",  # one device a group: work left for the last kills
        )
        rng = random.Random(15)
        log = tmp_path / "maintenance.log"
        kills_mid_compression = 0
        for _ in range(KILLS):
            await _others_gone(conn)
            done = await conn.fetchval("SELECT coalesce(sum(readings), 0) FROM readings_compression")
            proc = subprocess.Popen(
                [SENSORHUB, "maintenance", "--once"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads run between fork and exec here
            )
            try:
                while await conn.fetchval("SELECT coalesce(sum(readings), 0) FROM readings_compression") <= done:
                    assert proc.poll() is None, f"the worker exited by itself: {log.read_text()[-2000:]}"
                    await asyncio.sleep(0.01)  # until this process has committed a group
            finally:
                await asyncio.sleep(rng.uniform(0.0, 0.06))
                kill(proc)  # SIGKILL: mid-statement, between statements, or between groups
            await _others_gone(conn)
            raw_left = await conn.fetchval("SELECT count(*) FROM readings WHERE time < $1", today - timedelta(days=1))
            packed = await conn.fetchval("SELECT coalesce(sum(count), 0) FROM readings_packed")
            assert raw_left + packed == total  # nothing lost, nothing twice
            kills_mid_compression += raw_left > 0
        assert kills_mid_compression == KILLS, f"only {kills_mid_compression} kills hit a compression"

        finished = subprocess.run(
            [SENSORHUB, "maintenance", "--once"], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert finished.returncode == 0 and "maintenance: done" in finished.stdout, finished.stdout + finished.stderr
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE time < $1", today - timedelta(days=1)) == 0
        assert [tuple(r) for r in await conn.fetch(_FINGERPRINT)] == fingerprint
        assert all(n == times for _, _, n, times, _ in fingerprint)
        assert await _answers(conn, store, first_day) == answers
    finally:
        await conn.close()
