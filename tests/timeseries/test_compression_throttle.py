"""The compression job's duty cycle (SENSORHUB_COMPRESSION_DUTY): after each device group's
transaction the job pauses so that it is busy for at most the duty's share of the time; the pause
holds no transaction and no day lock (ingest of that day goes on), only the leader lock."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import pytest
from sensorhub.settings import SettingsError, load_settings
from sensorhub.timeseries import compression
from sensorhub.timeseries.maintenance import LEADER_LOCK, MaintenancePolicy, run_once
from sensorhub.timeseries.throttle import DutyCycle

from tests.timeseries.conftest import NOW, TimeSeries, reading

POLICY = MaintenancePolicy(
    raw_retention_days=30,
    rollup_retention_days=60,
    partitions_ahead_days=1,
    rollup_batch_hours=1000,
    archive_groups=4,
    compress_after_days=2,
)
DEVICES = [f"t{i}" for i in range(12)]


@pytest.fixture
def storage() -> str:
    """These tests compress by running the job themselves."""
    return "raw"


async def test_each_unit_of_work_is_followed_by_its_share_of_pause() -> None:
    ticks = itertools.count(step=2.0)  # every unit of work takes 2 s on this clock
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def work() -> str:
        return "done"

    quarter = DutyCycle(0.25, clock=lambda: next(ticks), sleep=sleep)
    assert [await quarter.run(work) for _ in range(3)] == ["done"] * 3
    assert slept == [6.0, 6.0, 6.0]  # busy 2 s of every 8 s
    assert (quarter.busy_s, quarter.paused_s) == (6.0, 18.0)
    await DutyCycle(1.0, clock=lambda: next(ticks), sleep=sleep).run(work)
    assert len(slept) == 3  # duty 1: no pause
    for bad in (0.0, -0.5, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            DutyCycle(bad)


def test_the_setting_defaults_to_a_quarter_and_refuses_what_is_not_a_share() -> None:
    assert load_settings({}).compression_duty == 0.25
    assert MaintenancePolicy.from_settings(load_settings({"SENSORHUB_COMPRESSION_DUTY": "1"})).compression_duty == 1
    for bad in ("0", "-1", "1.01", "nan", "half"):
        with pytest.raises(SettingsError) as info:
            load_settings({"SENSORHUB_COMPRESSION_DUTY": bad})
        assert len(info.value.problems) == 1 and info.value.problems[0].startswith("SENSORHUB_COMPRESSION_DUTY: ")


async def test_the_job_pauses_after_each_group_outside_its_transaction_and_day_lock(ts: TimeSeries) -> None:
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=4)
    for device in DEVICES:
        await ts.register(device, "temp")
    ts.now[0] = day + timedelta(hours=23, minutes=59)
    await ts.send([reading(d, "temp", day + timedelta(minutes=30 * k), k / 4) for d in DEVICES for k in range(48)])
    ts.now[0] = NOW
    seen: list[tuple[float, str, int, int, int]] = []

    async def sleep(seconds: float) -> None:
        """While the job pauses: its session's state, its day and leader locks, and the raw rows left."""
        row = await ts.pool.fetchrow(
            "SELECT a.state, "
            "  (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted"
            "     AND l.classid::bigint = $2 AND l.objsubid = 2) AS day_locks,"
            "  (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted"
            "     AND l.objid::bigint = $3 AND l.objsubid = 1) AS leader_locks,"
            "  (SELECT count(*) FROM readings) AS raw_left "
            "FROM pg_stat_activity a WHERE a.pid = $1",
            pid, compression.DAY_LOCK, LEADER_LOCK,
        )
        assert row is not None
        seen.append((seconds, row["state"], row["day_locks"], row["leader_locks"], row["raw_left"]))

    throttled = MaintenancePolicy(**{**POLICY.__dict__, "compression_duty": 0.25})
    async with ts.pool.acquire() as conn:
        pid = conn.get_server_pid()
        report = await run_once(conn, ts.store, throttled, now=NOW, sleep=sleep)
    groups = await ts.pool.fetchval("SELECT count(*) FROM readings_compression")
    assert report.readings_compressed == len(DEVICES) * 48 and groups > 1
    # One pause per group transaction, after its commit: idle (no transaction open), no day lock held,
    # the leader lock still held (no other replica starts meanwhile), fewer raw rows after each.
    assert len(seen) == groups
    assert all(s > 0 and state == "idle" and day_locks == 0 and leader == 1 for s, state, day_locks, leader, _ in seen)
    left = [r for *_, r in seen]
    assert left == sorted(left, reverse=True) and left[-1] == 0 and len(set(left)) == groups
    assert report.compression_paused_s == pytest.approx(sum(s for s, *_ in seen), abs=0.01)
    # Duty 1 (the policy's default, as the kill test sets it): no pause at all.
    ts.now[0] = day + timedelta(hours=23, minutes=59)
    await ts.send([reading(d, "temp", day + timedelta(minutes=30 * k + 7), k) for d in DEVICES for k in range(4)])
    ts.now[0] = NOW
    seen.clear()
    async with ts.pool.acquire() as conn:
        pid = conn.get_server_pid()
        again = await run_once(conn, ts.store, POLICY, now=NOW, sleep=sleep)
    assert again.readings_compressed == len(DEVICES) * 4 and seen == [] and again.compression_paused_s == 0
