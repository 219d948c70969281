"""``sensorhub events archive`` SIGKILLed 10 times while it archives resolved alerts: after every kill
each stream is wholly hot or wholly archived (with its tombstone and frozen version), the event log
(hot + cold) is exactly what it was, and a last run finishes the job.

Each kill needs a fresh process (2-4 s of imports on a busy 2-core machine), so it is in
``make test-long``.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
from pathlib import Path

import asyncpg
import pytest
from sensorhub.db import init_connection

from tests.projections.support import SENSORHUB, append_history, die_with_parent, kill, projector_env

KILLS = 10
# 1,200 resolved alerts in batches of 4: 300 batches. A killed run archives what it manages between our
# poll and the kill (tens of milliseconds: a few batches on a quiet machine), so work is left for every
# kill; with 30 batches of 20 a quiet machine could finish it all between two polls ("exited by itself").
ALERTS = 2400
BATCH = 4

# Every event, wherever it is: what must never change.
_LOG = """
SELECT position, transaction_id::text, event_id, stream_id, stream_version, type, md5(data::text), md5(metadata::text)
  FROM (SELECT * FROM events UNION ALL SELECT * FROM events_archive) e ORDER BY position
"""
# Streams whose events are split between the tables, or whose tombstone / frozen version disagrees.
_TORN = """
SELECT s.stream_id FROM streams s
  LEFT JOIN archived_streams t ON t.stream_id = s.stream_id
 WHERE (EXISTS (SELECT 1 FROM events e WHERE e.stream_id = s.stream_id)
        AND EXISTS (SELECT 1 FROM events_archive a WHERE a.stream_id = s.stream_id))
    OR (t.stream_id IS NOT NULL) <> (s.archived_version IS NOT NULL)
    OR (t.stream_id IS NOT NULL) <> EXISTS (SELECT 1 FROM events_archive a WHERE a.stream_id = s.stream_id)
    OR t.event_count <> (SELECT count(*) FROM events_archive a WHERE a.stream_id = s.stream_id)
"""


async def _others_gone(conn: asyncpg.Connection) -> None:
    """The killed command's backend ends when it next talks to its client (after its statement)."""
    for _ in range(600):
        others = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        if not others:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the killed command's backend is still running after 30 s")


@pytest.mark.long
async def test_ten_sigkills_during_archiving(database_url: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(database_url)
    await init_connection(conn)
    try:
        await append_history(conn, 1, ALERTS)
        log_before = [tuple(r) for r in await conn.fetch(_LOG)]
        env = projector_env(database_url)
        command = [SENSORHUB, "events", "archive", "--older-than-days", "0", "--batch-size", str(BATCH)]
        rng = random.Random(17)
        out = tmp_path / "archive.log"
        kills_mid_run = 0
        for _ in range(KILLS):
            await _others_gone(conn)
            done = await conn.fetchval("SELECT count(*) FROM archived_streams")
            proc = subprocess.Popen(
                command, env=env, stdout=out.open("ab"), stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads run between fork and exec here
            )
            try:
                while await conn.fetchval("SELECT count(*) FROM archived_streams") <= done:
                    assert proc.poll() is None, f"the command exited by itself: {out.read_text()[-2000:]}"
                    await asyncio.sleep(0.01)  # until this process has committed a batch
            finally:
                await asyncio.sleep(rng.uniform(0.0, 0.05))
                kill(proc)  # SIGKILL: mid-statement, between statements, or between batches
            await _others_gone(conn)
            assert await conn.fetch(_TORN) == []
            assert [tuple(r) for r in await conn.fetch(_LOG)] == log_before  # nothing lost, nothing twice
            kills_mid_run += await conn.fetchval("SELECT count(*) FROM archived_streams") < ALERTS // 2
        assert kills_mid_run == KILLS, f"only {kills_mid_run} kills hit a run with work left"

        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert await conn.fetchval("SELECT count(*) FROM archived_streams") == ALERTS // 2
        assert await conn.fetch(_TORN) == []
        assert [tuple(r) for r in await conn.fetch(_LOG)] == log_before
    finally:
        await conn.close()
