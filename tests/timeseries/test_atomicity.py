"""A request is all or nothing, on every engine: when the database fails mid-request nothing is kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from tests.timeseries.conftest import NOW, TimeSeries, reading

T0 = NOW - timedelta(hours=1)


async def test_a_failure_after_the_merge_leaves_nothing_behind(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.threshold("d1", "temp", None, 30.0)
    # The alert is appended after the readings, latest values and rollup marks were written.
    await ts.pool.execute(
        """
        CREATE FUNCTION fail_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'simulated failure'; END $$;
        CREATE TRIGGER fail_alerts BEFORE INSERT ON events FOR EACH ROW
            WHEN (NEW.type = 'AlertRaised') EXECUTE FUNCTION fail_alerts();
        """
    )
    rows = [reading("d1", "temp", T0 + timedelta(seconds=i), 20.0 + 10 * (i == 5)) for i in range(10)]
    rows[5]["value"] = 99.0
    with pytest.raises(asyncpg.RaiseError):
        await ts.send(rows)
    assert await ts.stored() == []
    for table in ("latest_readings", "rollup_dirty", "series_alert_state", "ingest_upkeep"):
        assert await ts.pool.fetchval(f"SELECT count(*) FROM {table}") in (0, None), table
    await ts.pool.execute("DROP TRIGGER fail_alerts ON events")
    result = await ts.send(rows)
    assert (result.accepted, result.alerts_raised) == (10, 1)


async def test_a_backend_killed_mid_merge_leaves_nothing_behind(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    # Make the merge slow enough to be caught in the act: a trigger that sleeps on the upkeep row.
    await ts.pool.execute(
        """
        CREATE FUNCTION slow_latest() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$;
        CREATE TRIGGER slow_latest BEFORE INSERT ON ingest_upkeep FOR EACH ROW EXECUTE FUNCTION slow_latest();
        """
    )
    rows = [reading("d1", "temp", T0 + timedelta(seconds=i), float(i)) for i in range(500)]
    task = asyncio.create_task(ts.send(rows))
    killed = False
    for _ in range(100):
        await asyncio.sleep(0.05)
        killed = bool(
            await ts.pool.fetchval(
                "SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE '%INSERT INTO ingest_upkeep%' "
                "AND pid <> pg_backend_pid()"
            )
        )
        if killed:
            break
    assert killed
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
        await task
    await ts.pool.execute("DROP TRIGGER slow_latest ON ingest_upkeep")
    assert await ts.stored() == []
    for table in ("latest_readings", "ingest_upkeep"):
        assert await ts.pool.fetchval(f"SELECT count(*) FROM {table}") == 0, table
