"""The projector as real processes: SIGKILL during catch-up, leader failover, lag while stopped."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import asyncpg
from sensorhub.db import Conn
from sensorhub.projections import store

from tests.projections.support import (
    append_history,
    assert_equals_scratch,
    kill,
    projector_env,
    start_projector,
    wait_caught_up,
)


async def test_sigkill_during_a_large_catch_up_leaves_read_models_equal_to_a_fresh_rebuild(
    pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        total = await append_history(conn, 1, 3400, chunk=850)
    assert total > 19_000
    env = projector_env(database_url, SENSORHUB_PROJECTION_BATCH_SIZE="300")
    rng = random.Random(4)
    killed_mid_catch_up = 0
    async with pool.acquire() as conn:
        progress = 0
        for _ in range(5):
            proc = start_projector(env, tmp_path / "projector.log")
            while (now := sum(s.position for s in await store.status(conn, 30.0))) <= progress:
                await asyncio.sleep(0.02)  # wait until this process has committed a batch
            progress = now
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            kill(proc)  # SIGKILL: mid-batch, no chance to clean up
            killed_mid_catch_up += any(s.lag_events > 0 for s in await store.status(conn, 30.0))
        proc = start_projector(env, tmp_path / "projector.log")
        started = time.monotonic()
        try:
            await wait_caught_up(conn, timeout=90)
        finally:
            kill(proc)
        print(f"last catch-up after {killed_mid_catch_up} kills: {time.monotonic() - started:.2f}s")
        for name in ("registry", "alert_history"):
            await assert_equals_scratch(conn, name)
    assert killed_mid_catch_up >= 3


def _leader_pid(row: asyncpg.Record) -> int:
    return int(str(row["leader"]).rsplit(":", 1)[1])


# Per projection: sessions holding its leader lock, and sessions that asked for it last and did not get it.
_ROLES = """
SELECT split_part(a.application_name, ':', 2) AS name,
       count(l.pid) AS leading,
       count(*) FILTER (WHERE l.pid IS NULL AND a.query LIKE '%pg_try_advisory_lock%') AS standing_by
FROM pg_stat_activity a
LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.classid = $1 AND l.granted
WHERE a.datname = current_database() AND a.application_name LIKE 'sensorhub-projector:%'
GROUP BY 1
"""


async def _wait_leader_and_standby_each(conn: Conn, timeout: float) -> float:
    """Until every projection has one leader and one standby that polls its lock; the seconds it took.
    A process only stands by once it has started and connected, which on a loaded machine can take
    longer than a takeover may: a takeover measured before that would time the start-up instead."""
    started = time.monotonic()
    while True:
        roles = {r["name"]: (r["leading"], r["standing_by"]) for r in await conn.fetch(_ROLES, store.LOCK_CLASS)}
        if roles == {"registry": (1, 1), "alert_history": (1, 1)}:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"not one leader and one standby each: {roles}"
        await asyncio.sleep(0.05)


async def test_two_projectors_one_leader_each_and_a_prompt_takeover(
    pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    env = projector_env(database_url)
    procs = [start_projector(env, tmp_path / f"p{i}.log") for i in range(2)]
    try:
        async with pool.acquire() as conn:
            ready_s = await _wait_leader_and_standby_each(conn, timeout=60)
            await append_history(conn, 1, 50)
            await wait_caught_up(conn, timeout=30)
            locks = await conn.fetch(
                "SELECT objid, count(*) AS holders FROM pg_locks WHERE locktype = 'advisory' AND classid = $1"
                " AND granted GROUP BY objid",
                store.LOCK_CLASS,
            )
            assert len(locks) == 2 and all(r["holders"] == 1 for r in locks), locks
            rows = {r["name"]: r for r in await conn.fetch("SELECT name, leader FROM projections")}
            by_pid = {p.pid: p for p in procs}
            leader = by_pid[_leader_pid(rows["registry"])]
            kill(leader)
            killed_at = time.monotonic()
            survivor = next(p for p in procs if p is not leader)
            while True:
                rows = {r["name"]: r for r in await conn.fetch("SELECT name, leader FROM projections")}
                if all(_leader_pid(r) == survivor.pid for r in rows.values()):
                    break
                assert time.monotonic() - killed_at < 5, f"no takeover within 5 s: {rows}"
                await asyncio.sleep(0.05)
            takeover_s = time.monotonic() - killed_at
            await append_history(conn, 51, 80)
            await wait_caught_up(conn, timeout=30)
            await assert_equals_scratch(conn, "registry")
    finally:
        for p in procs:
            kill(p)
    print(f"both processes standing by after {ready_s:.2f}s; takeover after {takeover_s:.2f}s")


async def test_lag_while_the_projector_is_stopped_and_after_it_catches_up(
    pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    env = projector_env(database_url)
    async with pool.acquire() as conn:
        proc = start_projector(env, tmp_path / "p.log")
        try:
            await append_history(conn, 1, 10)
            await wait_caught_up(conn)
        finally:
            kill(proc, 15)  # SIGTERM: graceful
        assert proc.returncode == 0
        before = await conn.fetchval("SELECT count(*) FROM events")
        await append_history(conn, 11, 20)
        added = await conn.fetchval("SELECT count(*) FROM events") - before
        await asyncio.sleep(0.3)
        statuses = await store.status(conn, 0.2)
        assert {s.name: s.lag_events for s in statuses} == {"alert_history": added, "registry": added}
        assert all(s.lag_seconds >= 0.3 and s.state == "stopped" for s in statuses), statuses
        proc = start_projector(env, tmp_path / "p.log")
        try:
            await wait_caught_up(conn)
            statuses = await store.status(conn, 5.0)
        finally:
            kill(proc, 15)
    assert all(s.lag_events == 0 and s.lag_seconds == 0 and s.state == "running" for s in statuses), statuses
