"""The alert archiving job as operators meet it: the maintenance step (SENSORHUB_ALERT_ARCHIVE_AFTER_DAYS)
and ``sensorhub events archive`` / ``restore``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from click.testing import CliRunner
from sensorhub.cli import main
from sensorhub.db import connect
from sensorhub.timeseries.maintenance import MaintenancePolicy, run_once
from sensorhub.timeseries.store import TimeSeriesStore

from tests.projections.support import append_history

POLICY = MaintenancePolicy(
    raw_retention_days=30, rollup_retention_days=33, partitions_ahead_days=1, rollup_batch_hours=100, archive_groups=1
)


async def _counts(conn: asyncpg.Connection) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM events_archive),"
        " (SELECT count(*) FROM archived_streams)"
    )
    assert row is not None
    return (row[0], row[1], row[2])


async def test_maintenance_archives_alerts_resolved_longer_ago_than_the_setting(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        total = await append_history(conn, 1, 20)
        store = await TimeSeriesStore.open(conn)
        off = await run_once(conn, store, POLICY)  # 0: off
        assert (off.alert_streams_archived, await _counts(conn)) == (0, (total, 0, 0))
        policy = replace(POLICY, alert_archive_after_days=2)
        too_young = await run_once(conn, store, policy, now=datetime.now(UTC) + timedelta(days=1))
        assert too_young.alert_streams_archived == 0
        report = await run_once(conn, store, policy, now=datetime.now(UTC) + timedelta(days=3))
        assert report.alert_streams_archived == 10
        hot, cold, tombstones = await _counts(conn)
        assert (hot + cold, cold, tombstones) == (total, report.alert_events_archived, 10)
        again = await run_once(conn, store, policy, now=datetime.now(UTC) + timedelta(days=3))
        assert again.alert_streams_archived == 0
    finally:
        await conn.close()


def test_the_archive_and_restore_commands(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def seed() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return await append_history(conn, 1, 20)
        finally:
            await conn.close()

    async def counts() -> tuple[int, int, int]:
        conn = await asyncpg.connect(database_url)
        try:
            return await _counts(conn)
        finally:
            await conn.close()

    total = asyncio.run(seed())
    monkeypatch.setenv("SENSORHUB_DATABASE_URL", database_url)
    runner = CliRunner()
    off = runner.invoke(main, ["events", "archive"])
    assert off.exit_code == 2 and "SENSORHUB_ALERT_ARCHIVE_AFTER_DAYS is 0" in off.output
    done = runner.invoke(main, ["events", "archive", "--older-than-days", "0", "--batch-size", "3"])
    assert done.exit_code == 0, done.output
    assert "batch 4: 10 alerts" in done.output
    assert done.output.strip().endswith("in 4 batches")
    hot, cold, _ = asyncio.run(counts())
    assert hot + cold == total
    restored = runner.invoke(main, ["events", "restore", "--stream", "alert-2", "--stream", "alert-4"])
    assert restored.exit_code == 0, restored.output
    assert "restored 4 events" in restored.output  # raised and resolved each (neither acknowledged: i % 3)
    assert asyncio.run(counts()) == (hot + 4, cold - 4, 8)
    none = runner.invoke(main, ["events", "restore", "--stream", "alert-2"])
    assert none.exit_code == 1 and "none of alert-2 is archived" in none.output
