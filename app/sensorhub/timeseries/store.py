"""The time-series store: one interface over every engine (see ``engines.py``).

It owns all SQL of the ingest transaction (``write`` and ``set_open_alerts``): the series lock,
then either the direct ``COPY`` into ``readings`` with the batch's ``ingest_upkeep`` row computed in
Python, or the staged ``COPY`` and the merge into ``readings`` and ``ingest_upkeep`` (whose drain
after the commit keeps ``latest_readings`` and ``rollup_dirty``, see ``upkeep.py``). The caller owns
the transaction, so a request is all or nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from sensorhub.db import Conn, array_literal
from sensorhub.timeseries import queries
from sensorhub.timeseries.batch_upkeep import upkeep_of
from sensorhub.timeseries.compression import PACKED_ALREADY, day_locks_sql
from sensorhub.timeseries.engines import ENGINES, EPOCH, Engine, EngineChoice, EngineInfo, prepare

Series = tuple[str, str]  # (device_id, metric)


class Reading(msgspec.Struct, frozen=True, gc=False):
    """One reading: a row of ``readings``. A Struct, not a dataclass: ingest builds one per row."""

    device_id: str
    metric: str
    time: datetime
    value: float


# Series that have (or had) a threshold get a ``series_alert_state`` row: ingest locks it while it
# evaluates the series, so concurrent requests evaluate one series one after the other.
_ADD_SERIES = """
INSERT INTO series_alert_state (device_id, metric)
SELECT device_id, metric FROM unnest($1::text[], $2::text[]) AS t(device_id, metric)
ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""
# Locks the alert states of the batch's devices in a fixed order (no deadlock) and reads their open
# alert under the lock, with the day after the newest packed day (``NULL``: nothing packed): a
# statement of its own, after the day locks and before the write, so the write's snapshot sees what
# the previous lock holder committed, and a compression of one of the batch's days is either seen
# here or has not started.
_LOCK_SERIES = """
WITH locked AS (
    SELECT s.device_id, s.metric, s.open_alert_id
    FROM series_alert_state s
    WHERE s.device_id = ANY($1::text::text[])
    ORDER BY s.device_id, s.metric
    FOR UPDATE OF s
)
SELECT NULL::text AS device_id, NULL::text AS metric, NULL::text AS open_alert_id,
       (SELECT max(day) + 1 FROM readings_packed) AS unpacked_from
UNION ALL
SELECT device_id, metric, open_alert_id, NULL FROM locked
"""
_SET_OPEN_ALERTS = """
UPDATE series_alert_state s SET open_alert_id = c.open_alert_id
FROM unnest($1::text[], $2::text[], $3::text[]) AS c(device_id, metric, open_alert_id)
WHERE s.device_id = c.device_id AND s.metric = c.metric
"""

_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS readings_staging "
    "(device_id text, metric text, time timestamptz, value double precision) ON COMMIT DELETE ROWS"
)

# The newest stored reading of each watched series ($1/$2) before this write: in ``latest_readings``
# or a pending upkeep row, whichever is newer (``NULL``: none).
_WATCHED_BEFORE = """watched AS (
    SELECT * FROM unnest($1::text[], $2::text[]) AS w(device_id, metric)
), before AS (
    SELECT w.device_id, w.metric, greatest(l.time, p.time) AS time
    FROM watched w
    LEFT JOIN latest_readings l USING (device_id, metric)
    LEFT JOIN (
        SELECT u.device_id, u.metric, max(u.time) AS time
        FROM ingest_upkeep k
        CROSS JOIN LATERAL unnest(k.latest_devices, k.latest_metrics, k.latest_times) AS u(device_id, metric, time)
        WHERE cardinality($1::text[]) > 0
        GROUP BY 1, 2
    ) p USING (device_id, metric)
)"""
_BEFORE = f"WITH {_WATCHED_BEFORE} SELECT device_id, metric, time FROM before"
# The batch's upkeep row, its arrays passed as literals (``UpkeepRow.literals``).
_UPKEEP = """
INSERT INTO ingest_upkeep
    (latest_devices, latest_metrics, latest_times, latest_values, hour_devices, hour_metrics, hours)
VALUES ($1::text::text[], $2::text::text[], $3::text::timestamptz[], $4::text::float8[],
        $5::text::text[], $6::text::text[], $7::text::timestamptz[])
"""

# One statement: the new readings (a duplicate, raw or packed, is skipped and counted), the batch's
# upkeep row (the newest new reading per series and the hours with new readings, applied to
# ``latest_readings`` and ``rollup_dirty`` after the commit, see ``upkeep.py``), and the new readings
# of the locked series ($1/$2) for alert evaluation: those newer than the series' newest reading
# stored before this statement (``latest_readings`` or a pending upkeep row, whichever is newer).
_MERGE = f"""
WITH ins AS (
    INSERT INTO readings (device_id, metric, time, value)
    SELECT s.device_id, s.metric, s.time, s.value FROM readings_staging s
    WHERE NOT ({PACKED_ALREADY})
    ON CONFLICT DO NOTHING
    RETURNING device_id, metric, time, value
), upkeep AS (
    INSERT INTO ingest_upkeep
        (latest_devices, latest_metrics, latest_times, latest_values, hour_devices, hour_metrics, hours)
    SELECT n.devices, n.metrics, n.times, n.vals, h.devices, h.metrics, h.hours
    FROM (SELECT array_agg(device_id) AS devices, array_agg(metric) AS metrics, array_agg(time) AS times,
                 array_agg(value) AS vals
          FROM (SELECT DISTINCT ON (device_id, metric) device_id, metric, time, value FROM ins
                ORDER BY device_id, metric, time DESC) x) n,
         (SELECT array_agg(device_id) AS devices, array_agg(metric) AS metrics, array_agg(bucket) AS hours
          FROM (SELECT DISTINCT device_id, metric, date_bin('1 hour', time, {EPOCH}) AS bucket FROM ins) y) h
    WHERE n.devices IS NOT NULL
    RETURNING id
), {_WATCHED_BEFORE}
SELECT 0 AS part, NULL::text AS device_id, NULL::text AS metric, NULL::timestamptz AS time,
       NULL::float8 AS value, (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM upkeep) AS upkeep
UNION ALL
SELECT 1, i.device_id, i.metric, i.time, i.value, NULL, NULL
FROM ins i
JOIN before b USING (device_id, metric)
WHERE b.time IS NULL OR i.time > b.time
ORDER BY part, device_id, metric, time
"""


# Readings of these devices since $2, raw and packed: a packed day wholly after $2 counts its
# ``count``, only the day $2 falls in is unpacked.
_COUNT_SINCE = """
SELECT (SELECT count(*) FROM readings WHERE device_id = ANY($1::text[]) AND time >= $2)
     + (SELECT coalesce(sum(CASE WHEN p.first_time >= $2 THEN p.count
                                 ELSE (SELECT count(*) FROM unnest(p.times) t WHERE t >= $2) END), 0)
        FROM readings_packed p
        WHERE p.device_id = ANY($1::text[]) AND p.day >= ($2 AT TIME ZONE 'UTC')::date AND p.last_time >= $2)
"""


@dataclass
class WriteOutcome:
    inserted: int
    duplicates: int
    # New readings of the locked series newer than the series' latest before this write, in
    # (device_id, metric, time) order: the ones alert evaluation must look at.
    to_evaluate: list[Reading] = field(default_factory=list)
    # The open alert of every locked series (``None``: no open alert).
    open_alerts: dict[Series, str | None] = field(default_factory=dict)
    # An ``ingest_upkeep`` row was written: drain it after the commit (``upkeep.py``).
    upkeep: bool = False
    # Written by the direct ``COPY`` (``write(direct=True)``), not staged and merged.
    direct: bool = False


@dataclass(frozen=True)
class SeriesRange:
    """One series over ``[start, end)``."""

    device_id: str
    metric: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class BucketSpec:
    width: timedelta
    aggregates: tuple[str, ...]
    fill: queries.Fill


# A ``latest_readings`` row: device_id, metric, time, value (indexable by position or name).
LatestRow = asyncpg.Record


@dataclass(frozen=True)
class Point:
    time: datetime
    value: float


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def first_of_each(readings: Sequence[Reading]) -> list[Reading]:
    """``readings`` without the rows that repeat an earlier row's series and time (the first wins)."""
    seen: set[tuple[str, str, datetime]] = set()
    out: list[Reading] = []
    for r in readings:
        key = (r.device_id, r.metric, r.time)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def days_of(readings: Iterable[Reading]) -> set[date]:
    """The UTC days of these readings (each distinct time converted once: a batch repeats few)."""
    return {utc_day(t) for t in {r.time for r in readings}}


class TimeSeriesStore:
    def __init__(self, info: EngineInfo) -> None:
        self.info = info
        self.engine: Engine = ENGINES[info.name]
        self._ready_days: set[date] = set()

    @classmethod
    async def open(cls, conn: Conn, choice: EngineChoice = "auto") -> TimeSeriesStore:
        """Detect the engine and make sure ``readings`` exists for it."""
        return cls(await prepare(conn, choice))

    # --- writes -----------------------------------------------------------------------------

    async def ensure_days(self, conn: Conn, days: Iterable[date]) -> None:
        """Partitions for these days exist (outside the caller's transaction: DDL locks the parent)."""
        missing = sorted(set(days) - self._ready_days)
        if not missing:
            return
        await self.engine.ensure_partitions(conn, missing[0], missing[-1])
        self._ready_days.update(missing[0] + timedelta(days=i) for i in range((missing[-1] - missing[0]).days + 1))

    def forget_days(self) -> None:
        """Partitions may have been dropped by another replica: check again on the next write."""
        self._ready_days.clear()

    async def write(
        self,
        conn: Conn,
        readings: Sequence[Reading],
        thresholds: Collection[Series] = (),
        *,
        direct: bool = False,
        unique: bool = True,
    ) -> WriteOutcome:
        """Store ``readings`` (unique per series and time) in the caller's transaction, and lock the
        alert states of the batch's devices (series in ``thresholds`` get one first).

        ``direct``: unless a reading falls in or before a packed day, ``COPY`` the batch straight
        into ``readings`` and write its upkeep row from the batch (no staging table, no ``ON
        CONFLICT``, no sort): a reading stored already then fails the ``COPY`` with
        ``asyncpg.UniqueViolationError``, and with it the caller's transaction, which the caller
        runs again without ``direct`` (``ingest/service.py``). Otherwise (the default) the batch is
        staged and merged, duplicates skipped and counted. ``unique=False``: ``readings`` may repeat a
        series and time (the direct ``COPY`` then fails; the merge keeps the first and counts the
        others as duplicates)."""
        if not readings:
            return WriteOutcome(0, 0)
        if thresholds:
            with_threshold = sorted({(r.device_id, r.metric) for r in readings} & set(thresholds))
            if with_threshold:
                await conn.execute(_ADD_SERIES, [s[0] for s in with_threshold], [s[1] for s in with_threshold])
        # Shared day locks, taken before the snapshots below: a compression of one of these days
        # commits wholly before them or starts after this transaction (see ``compression.py``).
        # Same round trip as the staging DDL.
        days = days_of(readings)
        await conn.execute(f"{_STAGING}; {day_locks_sql(days)}")
        locked = await conn.fetch(_LOCK_SERIES, array_literal(sorted({r.device_id for r in readings})))
        unpacked_from: date | None = locked[0]["unpacked_from"]
        open_alerts: dict[Series, str | None] = {}
        if len(locked) > 1:  # states of the batch's series (the lock covers the devices' other series too)
            batch_series = {(r.device_id, r.metric) for r in readings}
            for r in locked[1:]:
                if (r["device_id"], r["metric"]) in batch_series:
                    open_alerts[(r["device_id"], r["metric"])] = r["open_alert_id"]
        watched = sorted(open_alerts)
        if direct and (unpacked_from is None or min(days) >= unpacked_from):
            return await self._copy(conn, readings, open_alerts, watched)
        total = len(readings)
        if not unique:
            readings = first_of_each(readings)
        await conn.copy_records_to_table(
            "readings_staging",
            records=[(r.device_id, r.metric, r.time, r.value) for r in readings],
            columns=("device_id", "metric", "time", "value"),
        )
        rows = await conn.fetch(_MERGE, [s[0] for s in watched], [s[1] for s in watched])
        inserted = int(rows[0]["inserted"])
        evaluate = [Reading(r["device_id"], r["metric"], r["time"], r["value"]) for r in rows[1:]]
        return WriteOutcome(inserted, total - inserted, evaluate, open_alerts, bool(rows[0]["upkeep"]))

    async def _copy(
        self, conn: Conn, readings: Sequence[Reading], open_alerts: dict[Series, str | None], watched: list[Series]
    ) -> WriteOutcome:
        """The direct write: every reading is new, or the ``COPY`` fails the transaction."""
        before: dict[Series, datetime | None] = {}
        if watched:  # read before the COPY: the newest stored reading of each watched series
            rows = await conn.fetch(_BEFORE, [s[0] for s in watched], [s[1] for s in watched])
            before = {(r["device_id"], r["metric"]): r["time"] for r in rows}
        await conn.copy_records_to_table(
            "readings",
            records=[(r.device_id, r.metric, r.time, r.value) for r in readings],
            columns=("device_id", "metric", "time", "value"),
        )
        await conn.execute(_UPKEEP, *upkeep_of(readings).literals())
        evaluate: list[Reading] = []
        if watched:
            for r in readings:
                key = (r.device_id, r.metric)
                if key in before:
                    newest = before[key]
                    if newest is None or r.time > newest:
                        evaluate.append(r)
            evaluate.sort(key=lambda r: (r.device_id, r.metric, r.time))
        return WriteOutcome(len(readings), 0, evaluate, open_alerts, True, direct=True)

    async def set_open_alerts(self, conn: Conn, changes: Sequence[tuple[str, str, str | None]]) -> None:
        """Record each series' open alert after evaluation (rows locked by ``write``)."""
        if changes:
            await conn.execute(
                _SET_OPEN_ALERTS, [c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes]
            )

    # --- queries ----------------------------------------------------------------------------

    async def raw(self, conn: Conn, series: SeriesRange, limit: int) -> list[Point]:
        rows = await conn.fetch(queries.RAW_QUERY, series.device_id, series.metric, series.start, series.end, limit)
        return [Point(r["time"], r["value"]) for r in rows]

    async def raw_page(self, conn: Conn, series: SeriesRange, after: datetime | None, limit: int) -> list[Point]:
        """At most ``limit`` readings of ``series`` later than ``after`` (keyset: a series has one
        reading per time), oldest first. Read one UTC day at a time, so a query unpacks at most
        one packed day whatever the range; empty stretches are skipped with an index lookup of
        the next reading, so a range of centuries costs no more than its readings."""
        if after is not None and after >= series.end:
            return []
        start = series.start if after is None else max(series.start, after + _TICK)
        out: list[Point] = []
        while start < series.end and len(out) < limit:
            found = await conn.fetchval(_NEXT_READING, series.device_id, series.metric, start, series.end)
            if found is None:
                break
            start = max(start, found)
            stop = min(series.end, _next_day(start))
            rows = await conn.fetch(queries.RAW_QUERY, series.device_id, series.metric, start, stop, limit - len(out))
            out.extend(Point(r["time"], r["value"]) for r in rows)
            start = stop
        return out

    async def buckets(self, conn: Conn, series: SeriesRange, spec: BucketSpec) -> list[dict[str, Any]]:
        query = queries.bucket_query(self.engine, spec.width, spec.aggregates, spec.fill)
        rows = await conn.fetch(query.sql, series.device_id, series.metric, series.start, series.end, spec.width)
        # The columns are named as the keys: ``time``, then the aggregates in the order asked for (see
        # ``bucket_query``). ``dict(r.items())`` builds a row in ~40 % less CPU than zipping names.
        return [dict(r.items()) for r in rows]

    async def latest(self, conn: Conn, device_id: str) -> list[tuple[str, Point]]:
        rows = await conn.fetch(
            "SELECT metric, time, value FROM latest_readings_now WHERE device_id = $1 ORDER BY metric", device_id
        )
        return [(r["metric"], Point(r["time"], r["value"])) for r in rows]

    async def latest_of_devices(self, conn: Conn, device_ids: Sequence[str]) -> list[LatestRow]:
        """The latest reading of every series of these devices, as ``(device_id, metric, time, value)``
        rows in no particular order, from ``latest_readings_now`` (kept by ingest and its upkeep)."""
        return await conn.fetch(
            "SELECT device_id, metric, time, value FROM latest_readings_now WHERE device_id = ANY($1::text[])",
            list(device_ids),
        )

    async def count_since(self, conn: Conn, device_ids: Sequence[str], since: datetime) -> int:
        return int(await conn.fetchval(_COUNT_SINCE, list(device_ids), since) or 0)


# A lower bound of the first reading of a series in [$3, $4), or NULL when there is none: the
# first raw time, or the start of the first packed day holding a later reading (both by index).
_NEXT_READING = """
SELECT least(
    (SELECT min(time) FROM readings
     WHERE device_id = $1 AND metric = $2 AND time >= $3::timestamptz AND time < $4::timestamptz),
    (SELECT min(greatest(first_time, $3::timestamptz)) FROM readings_packed
     WHERE device_id = $1 AND metric = $2 AND day >= ($3::timestamptz AT TIME ZONE 'UTC')::date
       AND day <= ($4::timestamptz AT TIME ZONE 'UTC')::date AND last_time >= $3::timestamptz
       AND first_time < $4::timestamptz)
)
"""
_TICK = timedelta(microseconds=1)  # the resolution of timestamptz: the next possible reading time


def _next_day(moment: datetime) -> datetime:
    """The start of the UTC day after the one ``moment`` falls in (the end of time on the last day)."""
    day = utc_day(moment)
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def is_missing_partition(exc: BaseException) -> bool:
    """Postgres refused a row because no partition covers its time (one was dropped meanwhile)."""
    return isinstance(exc, asyncpg.CheckViolationError) and "no partition" in str(exc)
