"""Sealed-day compression: old days of raw readings rewritten into ``readings_packed``
(one row per series and UTC day, see ``migrations/0009_readings_packed.sql`` and docs/compression.md).

A day is sealed once all of it is older than ``compress_after_days``. The maintenance job packs it
one device group at a time (devices split by the archive's stable hash), each group in one
transaction whose single statement deletes the group's raw rows of the day and merges them into
the packed rows. Killed anywhere, a group is either packed or still raw; the next run finds the
raw rows left and carries on. Readings that arrive late for a packed day are stored raw (and
deduplicated against the packed ones, see ``store.py``), and folded in by the next run.

Ingest and compression of the same day are kept apart by an advisory lock per day: ingest holds it
shared (``day_locks_sql``) before its write statement, the job holds it exclusively for one
group's transaction, so neither statement works from a snapshot taken before the other committed.

On a TimescaleDB server with the Timescale licence the native columnstore (segment by series,
order by time) can be used instead: the job compresses whole chunks with ``compress_chunk``.
``SENSORHUB_COMPRESSION`` chooses (``method_for``): ``auto`` (the columnstore where the licence
allows it, else packed), ``native``, ``packed`` or ``off``.

Readers never see a day twice: a group's raw rows are deleted and its packed rows written by one
statement, so every snapshot sees one side or the other. Truncating the emptied partition is the
one step that is not MVCC-safe (a snapshot taken before the last group committed would find the
partition empty *and* not see the packed rows: the day missing), so it first waits until no
transaction that began before the packing committed still holds a snapshot (``_wait_for_older_snapshots``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Literal

from sensorhub.db import Conn
from sensorhub.observability import get_logger
from sensorhub.timeseries.device_groups import device_group
from sensorhub.timeseries.engines import EngineError, EngineInfo, Partition, day_start
from sensorhub.timeseries.throttle import DutyCycle

DAY_LOCK = 0x5E5E_000F  # pg_advisory_xact_lock(DAY_LOCK, days since 1970-01-01)
EPOCH_DAY = date(1970, 1, 1)
Choice = Literal["auto", "native", "packed", "off"]  # SENSORHUB_COMPRESSION
Method = Literal["packed", "columnstore", "off"]
SNAPSHOT_WAIT_S = 60.0  # longest wait for older snapshots before a truncate; then it is left to the next run
log = get_logger("sensorhub.compression")

# The distinct devices with raw rows in [$1, $2): one index probe per device (a loose index scan).
_DEVICES = """
WITH RECURSIVE d AS (
    (SELECT device_id FROM readings WHERE time >= $1 AND time < $2 ORDER BY device_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.device_id FROM readings r
            WHERE r.device_id > d.device_id AND r.time >= $1 AND r.time < $2 ORDER BY r.device_id LIMIT 1)
    FROM d WHERE d.device_id IS NOT NULL
)
SELECT device_id FROM d WHERE device_id IS NOT NULL
"""

# One device group of one day: move its raw rows into the packed rows, in one statement. Where a
# packed row exists already (late readings being folded in), its readings are merged with the raw
# ones; a time present in both keeps the packed value (the first write wins, as on ingest).
_PACK = """
WITH moved AS (
    DELETE FROM readings WHERE device_id = ANY($1::text[]) AND time >= $2 AND time < $2 + interval '1 day'
    RETURNING device_id, metric, time, value
), old AS (
    SELECT p.device_id, p.metric, unnest(p.times) AS time, unnest(p.vals) AS value
    FROM readings_packed p
    WHERE p.day = $3 AND p.device_id = ANY($1::text[])
      AND (p.device_id, p.metric) IN (SELECT device_id, metric FROM moved)
), merged AS (
    SELECT DISTINCT ON (device_id, metric, time) device_id, metric, time, value
    FROM (SELECT *, 0 AS source FROM old UNION ALL SELECT *, 1 FROM moved) x
    ORDER BY device_id, metric, time, source
), packed AS (
    INSERT INTO readings_packed AS p (device_id, metric, day, count, first_time, last_time, times, vals)
    SELECT device_id, metric, $3, count(*), min(time), max(time),
           array_agg(time ORDER BY time), array_agg(value ORDER BY time)
    FROM merged
    GROUP BY device_id, metric
    ON CONFLICT (device_id, metric, day) DO UPDATE SET
        count = excluded.count, first_time = excluded.first_time, last_time = excluded.last_time,
        times = excluded.times, vals = excluded.vals
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM packed) AS series
"""

# For a row ``s`` (device_id, metric, time) about to be written raw: its reading is stored packed
# already (a duplicate for a compressed day). Only rows older than the newest packed day are looked
# up, so writes of current days never probe. Ingest and restore use it under the shared day lock.
PACKED_ALREADY = """
s.time < (SELECT coalesce((max(day) + 1)::timestamp AT TIME ZONE 'UTC', '-infinity') FROM readings_packed)
AND EXISTS (
    SELECT 1 FROM readings_packed p
    WHERE p.device_id = s.device_id AND p.metric = s.metric AND p.day = (s.time AT TIME ZONE 'UTC')::date
      AND s.time BETWEEN p.first_time AND p.last_time AND s.time = ANY(p.times))
"""

_PROGRESS = """
INSERT INTO readings_compression (day, device_group, readings, compressed_at) VALUES ($1, $2, $3, now())
ON CONFLICT (day, device_group) DO UPDATE
SET readings = readings_compression.readings + excluded.readings, compressed_at = excluded.compressed_at
"""


class CompressionConfigError(EngineError):
    """``SENSORHUB_COMPRESSION`` asks for a method this database cannot run."""


def method_for(info: EngineInfo, choice: Choice = "auto") -> Method:
    """The compression ``choice`` resolves to on this server. The native columnstore needs TimescaleDB
    under the Timescale licence (``timescaledb.license = 'timescale'``): ``auto`` takes it there and the
    packed layout everywhere else (the Apache edition, plain PostgreSQL such as RDS); ``native`` on any
    other server is a configuration error; ``packed`` and ``off`` run anywhere."""
    licensed = info.name == "timescaledb" and info.timescaledb_license == "timescale"
    if choice == "off":
        return "off"
    if choice == "packed":
        return "packed"
    if choice == "native" and not licensed:
        found = (
            f"this server reports timescaledb.license = '{info.timescaledb_license}'"
            if info.name == "timescaledb"
            else "this database runs the postgres engine (no TimescaleDB)"
        )
        raise CompressionConfigError(
            "SENSORHUB_COMPRESSION=native needs TimescaleDB's columnstore, which only the Timescale licence "
            f"(server setting timescaledb.license = 'timescale') provides; {found}. "
            "Use `auto` or `packed` (the packed layout), or `off`"
        )
    return "columnstore" if licensed else "packed"


def day_number(day: date) -> int:
    return (day - EPOCH_DAY).days


def day_locks_sql(days: Iterable[date]) -> str:
    """SQL taking the shared day lock of every day in ``days`` (ingest, before its write statement)."""
    numbers = ",".join(str(day_number(d)) for d in sorted(set(days)))
    return f"SELECT pg_advisory_xact_lock_shared({DAY_LOCK}, d) FROM unnest('{{{numbers}}}'::int[]) d"


@dataclass
class CompressionReport:
    days: list[str] = field(default_factory=list)
    groups: int = 0
    readings: int = 0


def sealed(partitions: list[Partition], now: datetime, after_days: int) -> list[Partition]:
    """The days all of whose readings are older than ``after_days`` days, oldest first."""
    cutoff = now.astimezone(UTC) - timedelta(days=after_days)
    return [p for p in partitions if p.end <= cutoff]


async def pack_group(conn: Conn, day: date, group: int, device_ids: list[str]) -> int:
    """Pack one device group's raw rows of ``day``; return how many raw rows were folded in."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", DAY_LOCK, day_number(day))
        row = await conn.fetchrow(_PACK, device_ids, day_start(day), day)
        assert row is not None
        moved = int(row["moved"])
        if moved:
            await conn.execute(_PROGRESS, day, group, moved)
    return moved


async def compress_day(
    conn: Conn, partition: Partition, groups: int, report: CompressionReport, *,
    snapshot_wait_s: float = SNAPSHOT_WAIT_S, throttle: DutyCycle | None = None,
) -> None:
    """Pack every raw reading of ``partition``'s day, one device group per transaction (resumable: a
    group already packed has no raw rows left and is not listed again), then release its space.
    With ``throttle``, each group's transaction is followed by its pause (after the commit, so outside
    the transaction and the day lock): the job is busy for at most the duty's share of the time."""
    throttle = throttle or DutyCycle()
    day = partition.start.date()
    devices = [r["device_id"] for r in await conn.fetch(_DEVICES, partition.start, partition.end)]
    by_group: dict[int, list[str]] = defaultdict(list)
    for device_id in devices:
        by_group[device_group(device_id, groups)].append(device_id)
    for group, ids in sorted(by_group.items()):
        moved = await throttle.run(partial(pack_group, conn, day, group, ids))
        report.groups += 1
        report.readings += moved
        log.info("compressed", day=day.isoformat(), device_group=group, devices=len(ids), readings=moved)
    if by_group:
        report.days.append(day.isoformat())
    # Also a day packed earlier whose truncate was postponed (older snapshots outlived the wait).
    if by_group or await conn.fetchval("SELECT pg_relation_size($1::regclass) > 0", partition.name):
        await release_emptied(conn, partition, snapshot_wait_s=snapshot_wait_s)


# Other sessions of this database holding a snapshot (backend_xmin) in a transaction that began
# before $1: their snapshot may predate the packing. Sessions of other roles are included only when
# this role may see their backend_xmin (the same role, or pg_read_all_stats).
_OLDER_SNAPSHOTS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND backend_xmin IS NOT NULL AND xact_start < $1
"""


async def _wait_for_older_snapshots(conn: Conn, since: datetime, timeout_s: float) -> bool:
    """Wait until no transaction that began before ``since`` holds a snapshot; False after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while await conn.fetchval(_OLDER_SNAPSHOTS, since):
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def release_emptied(conn: Conn, partition: Partition, *, snapshot_wait_s: float = SNAPSHOT_WAIT_S) -> bool:
    """Give the emptied partition's space back: its deleted rows and, above all, its primary-key index
    (which vacuum never shrinks) would otherwise keep ~60 % of the day's raw size. Under the day lock
    no ingest is writing to the day, so "no raw row left" stays true until the truncate commits.

    TRUNCATE is not MVCC-safe: a transaction whose snapshot predates the last group's commit and that
    first reads the partition after the truncate would see neither the raw rows nor the packed ones.
    So the truncate waits until every transaction that began before now (after the packing
    committed) has let go of its snapshot; one still holding it after ``snapshot_wait_s`` postpones
    the truncate to the next run (the rows stay readable meanwhile; only the space waits).
    Returns whether the partition was truncated."""
    since = await conn.fetchval("SELECT clock_timestamp()")  # the server's clock, as xact_start is
    assert isinstance(since, datetime)
    if not await _wait_for_older_snapshots(conn, since, snapshot_wait_s):
        log.warning("truncate postponed: an older snapshot is still open", partition=partition.name,
                    waited_s=snapshot_wait_s)
        return False
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", DAY_LOCK, day_number(partition.start.date()))
        left = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM readings WHERE time >= $1 AND time < $2)", partition.start, partition.end
        )
        if not left:
            await conn.execute(f"TRUNCATE {partition.name}")
    return not left


async def drop_packed_before(conn: Conn, cutoff: datetime) -> None:
    """Retention: packed days that end at or before ``cutoff`` go with their raw partitions."""
    await conn.execute("DELETE FROM readings_packed WHERE day < $1::date", cutoff.astimezone(UTC).date())
    await conn.execute("DELETE FROM readings_compression WHERE day < $1::date", cutoff.astimezone(UTC).date())


async def compress_columnstore(
    conn: Conn, partitions: list[Partition], report: CompressionReport, throttle: DutyCycle | None = None
) -> None:
    """Timescale licence only: never executed here (the Apache edition refuses it at its licence check)."""
    throttle = throttle or DutyCycle()
    enabled = await conn.fetchval(
        "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'readings'"
    )
    if not enabled:
        await conn.execute(
            "ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, metric', "
            "timescaledb.compress_orderby = 'time')"
        )
    for partition in partitions:
        await throttle.run(
            partial(conn.execute, "SELECT compress_chunk($1::regclass, if_not_compressed => true)", partition.name)
        )
        report.days.append(partition.start.date().isoformat())
        log.info("compressed chunk", chunk=partition.name, day=partition.start.date().isoformat())


async def compress_sealed(
    conn: Conn, method: Method, partitions: list[Partition], now: datetime, *, after_days: int, groups: int,
    throttle: DutyCycle | None = None,
) -> CompressionReport:
    """The maintenance step: compress every sealed day with ``method`` (``off``, or ``after_days`` 0: nothing),
    pausing after each group transaction (or chunk) as ``throttle`` says."""
    report = CompressionReport()
    if after_days <= 0 or method == "off":
        return report
    days = sealed(partitions, now, after_days)
    if method == "columnstore":
        await compress_columnstore(conn, days, report, throttle)
        return report
    for partition in days:
        await compress_day(conn, partition, groups, report, throttle=throttle)
    return report


@dataclass(frozen=True)
class DayStorage:
    day: date
    raw_bytes: int
    raw_readings: int  # the planner's estimate (exact after ANALYZE)
    packed_bytes: int  # the compressed arrays of the day's packed rows
    packed_readings: int


@dataclass(frozen=True)
class StorageReport:
    method: Method
    days: list[DayStorage]
    packed_table_bytes: int  # readings_packed with its TOAST and indexes

    @property
    def days_compressed(self) -> int:
        return sum(1 for d in self.days if d.packed_readings)

    def bytes_per_reading(self) -> dict[str, float | None]:
        raw_n = sum(d.raw_readings for d in self.days)
        packed_n = sum(d.packed_readings for d in self.days)
        raw_b = sum(d.raw_bytes for d in self.days)
        return {
            "raw": round(raw_b / raw_n, 2) if raw_n else None,
            "packed": round(self.packed_table_bytes / packed_n, 2) if packed_n else None,
        }


async def storage_report(conn: Conn, method: Method, partitions: list[Partition]) -> StorageReport:
    """Per day: the raw partition's size and rows, and the packed rows' readings and array bytes."""
    raw: dict[date, tuple[int, int]] = {}
    for p in partitions:
        row = await conn.fetchrow(
            "SELECT pg_total_relation_size(c.oid) AS bytes, greatest(c.reltuples, 0)::bigint AS rows "
            "FROM pg_class c WHERE c.oid = $1::regclass",
            p.name,
        )
        if row is not None:
            raw[p.start.date()] = (int(row["bytes"]), int(row["rows"]))
    packed = {
        r["day"]: (int(r["bytes"]), int(r["readings"]))
        for r in await conn.fetch(
            "SELECT day, sum(pg_column_size(times) + pg_column_size(vals)) AS bytes, sum(count) AS readings "
            "FROM readings_packed GROUP BY day"
        )
    }
    days = [
        DayStorage(day, *raw.get(day, (0, 0)), *packed.get(day, (0, 0))) for day in sorted(raw.keys() | packed.keys())
    ]
    total = int(await conn.fetchval("SELECT pg_total_relation_size('readings_packed')") or 0)
    return StorageReport(method, days, total)
