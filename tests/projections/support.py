"""Helpers for projection tests: bulk history through eventstore_append, in-process projectors,
projector subprocesses, and "equals a rebuild from scratch" comparisons."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from sensorhub.application.stored_events import FeedCursor
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.feed import read_feed
from sensorhub.projections import store
from sensorhub.projections.by_name import all_projections
from sensorhub.projections.projector import Projector
from sensorhub.projections.runner import RunnerConfig

from bench.service import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
SENSORHUB = str(ROOT / ".venv" / "bin" / "sensorhub")
FAST = RunnerConfig(
    batch_size=500, rebuild_batch_size=1000, poll_interval_s=0.2, lock_retry_s=0.2, heartbeat_interval_s=0.2
)
KEYS = {
    "rm_devices": "device_id",
    "rm_alerts": "alert_id",
    "rm_alert_history": "device_id, time, position",
    "rm_alert_subjects": "alert_id",
}

_DEVICES = """
SELECT count(*) FROM generate_series($1::int, $2::int) AS i,
LATERAL eventstore_append('dev-' || i, 'Device', 'any',
  ARRAY[gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid()],
  ARRAY['DeviceRegistered', 'ThresholdSet', 'DeviceRenamed', 'DeviceMoved'], ARRAY[1, 2, 1, 1],
  ARRAY[jsonb_build_object('device_id', 'dev-' || i, 'name', 'n' || i, 'site', 'site-' || i % 7, 'kind',
          CASE WHEN i % 2 = 0 THEN 'thermo' ELSE 'hygro' END,
          'metrics', jsonb_build_array(jsonb_build_object('name', 'temperature', 'unit', 'C'))),
        jsonb_build_object('device_id', 'dev-' || i, 'metric', 'temperature', 'min', 0, 'max', 30 + i % 5,
          'severity', 'warning'),
        jsonb_build_object('device_id', 'dev-' || i, 'name', 'renamed-' || i),
        jsonb_build_object('device_id', 'dev-' || i, 'site', 'site-' || i % 5)],
  ARRAY['{}'::jsonb, '{}', '{}', '{}'])
"""
_RAISE = """
SELECT count(*) FROM generate_series($1::int, $2::int) AS i,
LATERAL eventstore_append('alert-' || i, 'Alert', 'any', ARRAY[gen_random_uuid()], ARRAY['AlertRaised'], ARRAY[1],
  ARRAY[jsonb_build_object('alert_id', 'alert-' || i, 'device_id', 'dev-' || i, 'metric', 'temperature',
        'severity', (ARRAY['info', 'warning', 'critical'])[1 + i % 3], 'trigger_value', 40 + i % 10,
        'threshold', jsonb_build_object('min', 0, 'max', 30),
        'raised_at', to_jsonb(timestamptz '2026-01-01 00:00Z' + i * interval '7 hours'))],
  ARRAY['{}'::jsonb])
"""
_ACK = """
SELECT count(*) FROM generate_series($1::int, $2::int) AS i,
LATERAL eventstore_append('alert-' || i, 'Alert', 'any', ARRAY[gen_random_uuid()], ARRAY['AlertAcknowledged'], ARRAY[1],
  ARRAY[jsonb_build_object('alert_id', 'alert-' || i, 'by', 'op-' || i % 4, 'note', NULL,
        'acknowledged_at', to_jsonb(timestamptz '2026-01-01 00:05Z' + i * interval '7 hours'))],
  ARRAY['{}'::jsonb]) WHERE i % 3 = 0
"""
_RESOLVE = """
SELECT count(*) FROM generate_series($1::int, $2::int) AS i,
LATERAL eventstore_append('alert-' || i, 'Alert', 'any', ARRAY[gen_random_uuid()],
  ARRAY[CASE WHEN i % 4 = 0 THEN 'AlertResolved' ELSE 'AlertAutoResolved' END], ARRAY[1],
  ARRAY[CASE WHEN i % 4 = 0
    THEN jsonb_build_object('alert_id', 'alert-' || i, 'by', 'op', 'note', 'fixed',
         'resolved_at', to_jsonb(timestamptz '2026-01-01 01:00Z' + i * interval '7 hours'))
    ELSE jsonb_build_object('alert_id', 'alert-' || i, 'value', 20,
         'resolved_at', to_jsonb(timestamptz '2026-01-01 01:00Z' + i * interval '7 hours')) END],
  ARRAY['{}'::jsonb]) WHERE i % 2 = 0
"""


async def append_history(conn: asyncpg.Connection | Any, first: int, last: int, chunk: int = 500) -> int:
    """Devices ``first..last``, each with 4 device events and an alert (raised; some acknowledged,
    some resolved): about 6 events per device, in several transactions."""
    for lo in range(first, last + 1, chunk):
        hi = min(last, lo + chunk - 1)
        for sql in (_DEVICES, _RAISE, _ACK, _RESOLVE):
            await conn.fetchval(sql, lo, hi)
    return int(await conn.fetchval("SELECT count(*) FROM events") or 0)


async def table_rows(conn: Any, view_or_table: str, key: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(f"SELECT * FROM {view_or_table} ORDER BY {key}")]


async def scratch_rebuild(conn: Any, name: str, generation: int = 900) -> None:
    """Replay the whole feed into a scratch generation, in this process, with no effects."""
    projection = all_projections()[name]
    registry = build_registry()
    await conn.execute("SELECT rm_drop_generation($1, $2), rm_create_generation($1, $2)", name, generation)
    cursor = FeedCursor.start()
    while True:
        async with conn.transaction():
            records = await read_feed(conn, cursor, 5000)
            if not records:
                return
            await projection.apply(conn, generation, [registry.upcast_record(r) for r in records], None)
            cursor = records[-1].cursor


async def assert_equals_scratch(conn: Any, name: str) -> None:
    """Every live read-model table of ``name`` has exactly the rows of a rebuild from scratch."""
    await scratch_rebuild(conn, name)
    tables = await conn.fetchval("SELECT rm_tables($1)", name)
    try:
        for t in tables:
            live = await table_rows(conn, t, KEYS[t])
            fresh = await table_rows(conn, f"{t}_g900", KEYS[t])
            assert len(live) == len(fresh), f"{t}: {len(live)} rows live, {len(fresh)} rebuilt"
            assert live == fresh, f"{t} differs from a rebuild from scratch"
    finally:
        await conn.execute("SELECT rm_drop_generation($1, 900)", name)


async def wait_caught_up(conn: Any, timeout: float = 60.0, name: str | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await store.status(conn, 30.0, name)
        if all(s.lag_events == 0 and s.rebuild_position is None for s in found):
            return
        assert loop.time() < deadline, f"projections not caught up: {found}"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_projector(
    database_url: str, redis: Any = None, config: RunnerConfig = FAST
) -> AsyncIterator[Projector]:
    """A projector on its own event loop in a thread: Litestar's test client blocks the test's loop
    while a request runs, and a projector sharing that loop would stall for as long."""
    projector = Projector(database_url, redis, config)
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        await projector.run(state["stop"])

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield projector
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        await asyncio.to_thread(thread.join, 15)


async def project_everything(database_url: str, timeout: float = 30.0) -> None:
    """Run a projector (in this process) until the read models have every event so far."""
    async with running_projector(database_url):
        conn = await asyncpg.connect(database_url)
        try:
            await wait_caught_up(conn, timeout=timeout)
        finally:
            await conn.close()


def projector_env(database_url: str, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSORHUB_")}
    env.update(
        SENSORHUB_DATABASE_URL=database_url,
        SENSORHUB_LOG_LEVEL="info",
        SENSORHUB_PROJECTOR_PORT="0",
        SENSORHUB_PROJECTOR_POLL_INTERVAL_S="0.2",
        SENSORHUB_PROJECTOR_HEARTBEAT_TIMEOUT_S="3",
        PYTHONUNBUFFERED="1",  # a SIGKILLed projector's log lines are kept
    )
    if redis_url:
        env["SENSORHUB_REDIS_URL"] = redis_url
    env.update(extra)
    return env


def start_projector(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [SENSORHUB, "projector"],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads run between fork and exec here
    )


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(15)
