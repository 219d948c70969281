"""Ingest upkeep after the commit (``timeseries/upkeep.py``), on every engine: an acknowledged batch
is visible in latest values, rollup-backed queries and alert evaluation before its upkeep is
drained; a drain is idempotent; ingest processes SIGKILLed between their commits and the upkeep,
or while they drain, lose nothing and count nothing twice; concurrent ingest, drains and
maintenance leave ``latest_readings`` and the rollups equal to the raw readings."""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest
from sensorhub.db import Conn
from sensorhub.eventstore.event_types import build_registry
from sensorhub.ingest.catalog import EventStoreDeviceCatalog
from sensorhub.ingest.rows import parse_json
from sensorhub.ingest.service import ReadingsIngest
from sensorhub.projections.queries import last_seen
from sensorhub.timeseries import queries, rollups, upkeep
from sensorhub.timeseries.maintenance import MaintenancePolicy, run_once
from sensorhub.timeseries.store import BucketSpec, SeriesRange

from bench.service import die_with_parent
from tests.conftest import ROOT
from tests.timeseries.conftest import EVERY_READING, NOW, TimeSeries, reading
from tests.timeseries.upkeep_child import APPLICATION, DEVICES, METRICS, START, batch

T0 = NOW - timedelta(hours=2)
POLICY = MaintenancePolicy(
    raw_retention_days=30, rollup_retention_days=730, partitions_ahead_days=1, rollup_batch_hours=100, archive_groups=4
)
RAW_ONLY = pytest.mark.parametrize("storage", ["raw"])

# The newest reading per series, from every raw and packed reading.
_NEWEST = f"""
SELECT DISTINCT ON (device_id, metric) device_id, metric, time, value FROM {EVERY_READING}
ORDER BY device_id, metric, time DESC
"""
# Per series and hour: count, min, max, from every reading.
_HOURS = f"""
SELECT device_id, metric, date_bin('1 hour', time, '1970-01-01 00:00:00+00') AS hour, count(*), min(value), max(value)
FROM {EVERY_READING} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def _never_draining(ts: TimeSeries) -> ReadingsIngest:
    """An ingest whose upkeep stays pending (as if its process died right after each commit)."""
    registry = build_registry()
    return ReadingsIngest(
        ts.pool, ts.store, EventStoreDeviceCatalog(registry), registry, retention_days=30, clock=lambda: NOW,
        upkeep_delay=3600.0,
    )


async def _send(ingest: ReadingsIngest, rows: list[dict[str, Any]]) -> None:
    import msgspec

    await ingest.ingest(parse_json(msgspec.json.encode({"readings": rows})))


async def _answers(ts: TimeSeries, devices: tuple[str, ...], metrics: tuple[str, ...], start: datetime) -> Any:
    """What reads answer: latest per series, last seen per device, hourly buckets (rollups where current)."""
    spec = BucketSpec(queries.parse_bucket("1h"), ("count", "min", "max"), "none")
    async with ts.pool.acquire() as conn:
        latest = sorted(tuple(r) for r in await ts.store.latest_of_devices(conn, list(devices)))
        seen = await last_seen(conn, list(devices))
        hours = []
        for d in devices:
            for m in metrics:
                for b in await ts.store.buckets(conn, SeriesRange(d, m, start, NOW), spec):
                    hours.append((d, m, b["time"], b["count"], b["min"], b["max"]))
    return latest, seen, sorted(hours)


async def _truth(conn: Conn, devices: tuple[str, ...]) -> Any:
    """The same answers computed from the raw readings alone."""
    newest = [tuple(r) for r in await conn.fetch(_NEWEST) if r["device_id"] in devices]
    seen: dict[str, datetime] = {}
    for d, _, t, _ in newest:
        seen[d] = max(seen.get(d) or t, t)
    hours = [tuple(r) for r in await conn.fetch(_HOURS) if r["device_id"] in devices]
    return sorted(newest), seen, hours


async def _stored_tables_match(conn: Conn, devices: tuple[str, ...]) -> None:
    """After a drain and a rollup run: the tables themselves (not only the reads) equal the raw readings."""
    newest, _, hours = await _truth(conn, devices)
    latest = sorted(tuple(r) for r in await conn.fetch("SELECT device_id, metric, time, value FROM latest_readings"))
    assert latest == newest
    rolled = [
        tuple(r)
        for r in await conn.fetch(
            "SELECT device_id, metric, bucket, count, min, max FROM readings_hourly ORDER BY 1, 2, 3"
        )
    ]
    assert rolled == hours


@RAW_ONLY
async def test_an_acknowledged_batch_is_read_before_its_upkeep_is_drained(ts: TimeSeries) -> None:
    await ts.register("d1", "temp", "hum")
    await ts.send([reading("d1", m, T0 + timedelta(minutes=i), 10.0 + i) for i in range(5) for m in ("temp", "hum")])
    async with ts.pool.acquire() as conn:
        assert await rollups.refresh(conn, 100) == 2  # the hour has a current rollup now
    pending = _never_draining(ts)
    await _send(pending, [reading("d1", "temp", T0 + timedelta(minutes=9), 99.0)])  # same hour, newer
    await _send(pending, [reading("d1", "hum", T0 + timedelta(minutes=2, seconds=30), 7.0)])  # late
    async with ts.pool.acquire() as conn:
        assert await upkeep.pending(conn) == 2
        assert await conn.fetchval("SELECT time FROM latest_readings WHERE metric = 'temp'") == T0 + timedelta(
            minutes=4
        )  # the table is behind...
        truth = await _truth(conn, ("d1",))
    before = await _answers(ts, ("d1",), ("temp", "hum"), T0)
    assert before == truth  # ...the reads are not: latest 99.0, rollup hours answered from raw rows
    assert ("d1", "temp", T0 + timedelta(minutes=9), 99.0) in before[0]
    async with ts.pool.acquire() as conn:
        assert await upkeep.drain_all(conn) == 2
        assert await upkeep.drain_all(conn) == 0
        assert await _answers(ts, ("d1",), ("temp", "hum"), T0) == truth
        assert await rollups.refresh(conn, 100) == 2
        await _stored_tables_match(conn, ("d1",))
        assert await _answers(ts, ("d1",), ("temp", "hum"), T0) == truth


@RAW_ONLY
async def test_alert_evaluation_sees_readings_whose_upkeep_is_pending(ts: TimeSeries) -> None:
    await ts.register("d1", "temp")
    await ts.threshold("d1", "temp", None, 30.0)
    pending = _never_draining(ts)
    at = [T0 + timedelta(minutes=i) for i in range(4)]
    # Raise at minute 1, resolve at minute 3; nothing drained.
    await _send(pending, [reading("d1", "temp", at[0], 20.0), reading("d1", "temp", at[1], 35.0)])
    await _send(pending, [reading("d1", "temp", at[3], 20.0)])
    # Late (older than minute 3, which is only in pending upkeep) and out of bounds: no alert.
    await _send(pending, [reading("d1", "temp", at[2], 40.0)])
    kinds = [kind for _, kind, _ in await ts.alerts()]
    assert kinds == ["AlertRaised", "AlertAutoResolved"], kinds


async def _wait_for_drain_statement(ts: TimeSeries, proc: asyncio.subprocess.Process) -> None:
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' "
        "AND query LIKE '%DELETE FROM ingest_upkeep%'"
    )
    for _ in range(1500):
        if await ts.pool.fetchval(sql, APPLICATION):
            return
        assert proc.returncode is None, "the child exited before it drained"
        await asyncio.sleep(0.01)
    raise AssertionError("the child never drained")


async def _others_gone(ts: TimeSeries) -> None:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
    for _ in range(1500):
        if not await ts.pool.fetchval(sql, APPLICATION):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the killed child's backends are still there")


@RAW_ONLY
async def test_ingest_killed_between_commit_and_upkeep_or_mid_drain_loses_nothing(ts: TimeSeries) -> None:
    for d in DEVICES:
        await ts.register(d, *METRICS)
    await ts.threshold("k1", "temp", None, 35.0)
    rng = random.Random(18)
    acknowledged: set[tuple[str, str, datetime]] = set()
    for kill, mode in enumerate(("commit", "drain", "commit", "drain", "commit")):
        first, last = 3 * kill, 3 * kill + 2
        if mode == "drain":  # slow the drain's latest upsert down so the kill lands inside it
            await ts.pool.execute(
                """
                CREATE OR REPLACE FUNCTION slow_drain() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$;
                CREATE OR REPLACE TRIGGER slow_drain BEFORE INSERT ON latest_readings
                    FOR EACH STATEMENT EXECUTE FUNCTION slow_drain();
                """
            )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.timeseries.upkeep_child", ts.url, mode, str(first), str(last),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
        )
        assert proc.stdout is not None
        try:
            stop_after = rng.randint(first, last) if mode == "commit" else first
            while True:
                line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
                assert line, "the child exited before it committed"
                if line.startswith("committed"):
                    n = int(line.split()[1])
                    acknowledged |= {(r["device_id"], r["metric"], datetime.fromisoformat(r["time"])) for r in batch(n)}
                    if n >= stop_after:
                        break
            if mode == "drain":
                await _wait_for_drain_statement(ts, proc)
        finally:
            if proc.returncode is None:
                proc.kill()  # SIGKILL
            await proc.wait()
        await _others_gone(ts)
        await ts.pool.execute("DROP TRIGGER IF EXISTS slow_drain ON latest_readings")
        stored = {(d, m, t) for d, m, t, _ in await ts.stored()}
        assert acknowledged <= stored  # nothing acknowledged is lost
        assert len(stored) == len(await ts.stored())  # nothing stored twice
        async with ts.pool.acquire() as conn:
            assert await _answers(ts, DEVICES, METRICS, START) == await _truth(conn, DEVICES)
            if kill == 2:  # rollups made while upkeep is pending: queries must not trust them
                await rollups.refresh(conn, 1000)
                assert await _answers(ts, DEVICES, METRICS, START) == await _truth(conn, DEVICES)
    async with ts.pool.acquire() as conn:
        assert await upkeep.pending(conn) > 0  # the kills left upkeep behind
        report = await run_once(conn, ts.store, POLICY, now=NOW)
        assert report.upkeep_drained > 0
        assert await upkeep.pending(conn) == 0
        await _stored_tables_match(conn, DEVICES)
        again = await run_once(conn, ts.store, POLICY, now=NOW)
        assert (again.upkeep_drained, again.hours_rolled_up) == (0, 0)  # nothing applied twice
        await _stored_tables_match(conn, DEVICES)
        assert await _answers(ts, DEVICES, METRICS, START) == await _truth(conn, DEVICES)


@RAW_ONLY
async def test_concurrent_ingest_drains_and_maintenance_converge(ts: TimeSeries) -> None:
    for d in DEVICES:
        await ts.register(d, *METRICS)
    await ts.threshold("k2", "hum", 25.0, None)
    registry = build_registry()
    ingests = [
        ReadingsIngest(
            ts.pool, ts.store, EventStoreDeviceCatalog(registry), registry, retention_days=30, clock=lambda: NOW,
            upkeep_delay=delay,
        )
        for delay in (0.0, 0.02, None)
    ]
    order = list(range(12))
    random.Random(7).shuffle(order)  # late batches too: out of time order across writers
    done = asyncio.Event()

    async def writer(k: int) -> None:
        for n in order[k::3]:
            await _send(ingests[k], batch(n))
            await _send(ingests[k], batch(n))  # every batch twice: all duplicates the second time

    async def maintenance() -> None:
        async with ts.pool.acquire() as conn:
            while not done.is_set():
                await run_once(conn, ts.store, POLICY, now=NOW)
                await asyncio.sleep(0.01)

    runner = asyncio.create_task(maintenance())
    await asyncio.gather(*(writer(k) for k in range(3)))
    done.set()
    await runner
    for ingest in ingests:
        await ingest.upkeep.settle()
    async with ts.pool.acquire() as conn:
        assert await _answers(ts, DEVICES, METRICS, START) == await _truth(conn, DEVICES)
        await run_once(conn, ts.store, POLICY, now=NOW)
        assert await upkeep.pending(conn) == 0
        await _stored_tables_match(conn, DEVICES)
    sent = {(r["device_id"], r["metric"], r["time"]) for n in range(12) for r in batch(n)}
    assert len(await ts.stored()) == len(sent)


@RAW_ONLY
async def test_a_purged_device_gets_nothing_back_from_its_pending_upkeep(ts: TimeSeries) -> None:
    """DELETE /v1/devices/{id} purges the device's series; an upkeep row of an earlier batch, drained
    after the purge, must not put its latest value or rollup marks back (the other device's stay)."""
    from sensorhub.timeseries.purge import purge_device

    await ts.register("d1", "temp")
    await ts.register("d2", "temp")
    pending = _never_draining(ts)
    rows = [reading(d, "temp", T0 + timedelta(minutes=i), 1.0 + i) for i in range(3) for d in ("d1", "d2")]
    await _send(pending, rows)
    async with ts.pool.acquire() as conn:
        assert await upkeep.pending(conn) == 1
        await purge_device(conn, "d1")
        assert await upkeep.drain_all(conn) == 1
        for table in ("latest_readings", "rollup_dirty"):
            devices = {r["device_id"] for r in await conn.fetch(f"SELECT DISTINCT device_id FROM {table}")}
            assert devices == {"d2"}, table
        assert await conn.fetchval("SELECT value FROM latest_readings WHERE device_id = 'd2'") == 3.0
