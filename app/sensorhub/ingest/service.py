"""``ReadingsIngest``: validate a batch row by row, store the accepted rows and evaluate thresholds,
all in one transaction (a request is all or nothing)."""

from __future__ import annotations

import asyncio
import time as timer
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg

from sensorhub.application.ports import EventCodec
from sensorhub.application.unit_of_work import CommandContext, utc_now
from sensorhub.db import Conn
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work
from sensorhub.ingest.alerting import AlertSink, RaiseFor, UnitOfWorkAlerts, evaluate_series
from sensorhub.ingest.catalog import DeviceCatalog, DeviceInfo
from sensorhub.ingest.rows import Parsed, Reading, Rejection
from sensorhub.observability import INGEST_BATCH_SECONDS, READINGS_DUPLICATE, READINGS_INGESTED, READINGS_REJECTED
from sensorhub.timeseries.store import TimeSeriesStore, is_missing_partition, utc_day

MAX_FUTURE = timedelta(minutes=5)
ATTEMPTS = 3
Series = tuple[str, str]

_ADD_SERIES = """
INSERT INTO series_alert_state (device_id, metric)
SELECT device_id, metric FROM unnest($1::text[], $2::text[]) AS t(device_id, metric)
ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""
# Locks the evaluation state of the batch's series that have (or had) a threshold, in a fixed order,
# and reads their open alert only once the lock is held.
_LOCK_SERIES = """
SELECT s.device_id, s.metric, s.open_alert_id
FROM series_alert_state s JOIN unnest($1::text[], $2::text[]) AS w(device_id, metric) USING (device_id, metric)
ORDER BY s.device_id, s.metric
FOR UPDATE OF s
"""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    alerts_raised: int = 0
    alerts_resolved: int = 0


def oldest_kept(now: datetime, retention_days: int) -> datetime:
    """The start of the oldest day that raw retention still keeps."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=retention_days)


class ReadingsIngest:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: TimeSeriesStore,
        catalog: DeviceCatalog,
        codec: EventCodec,
        *,
        retention_days: int,
        clock: Callable[[], datetime] = utc_now,
        notifier: AppendNotifier | None = None,
    ) -> None:
        self._pool = pool
        self._notifier = notifier
        self._store = store
        self.catalog = catalog
        self._codec = codec
        self._retention_days = retention_days
        self._clock = clock

    async def ingest(self, parsed: Parsed, context: CommandContext | None = None) -> IngestResult:
        started = timer.perf_counter()
        result = IngestResult(rejected=list(parsed.rejected))
        async with self._pool.acquire() as conn:
            devices = await self.catalog.get(conn, {r.device_id for _, r in parsed.readings})
            accepted = self._validate(parsed, devices, result)
            await self._store.ensure_days(conn, _days(accepted))
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    async with conn.transaction():
                        await self._write(conn, accepted, devices, context, result)
                    if self._notifier is not None and (result.alerts_raised or result.alerts_resolved):
                        self._notifier.committed()  # alert events committed with the readings
                    break
                except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError, asyncpg.CheckViolationError) as exc:
                    if attempt == ATTEMPTS or not _retryable(exc):
                        raise
                    self._store.forget_days()
                    await self._store.ensure_days(conn, _days(accepted))
                    await asyncio.sleep(0.01 * attempt)
        result.rejected.sort(key=lambda r: r.index)
        self._observe(result, timer.perf_counter() - started)
        return result

    def _validate(self, parsed: Parsed, devices: dict[str, DeviceInfo], result: IngestResult) -> list[Reading]:
        now = self._clock()
        latest_allowed, earliest_allowed = now + MAX_FUTURE, oldest_kept(now, self._retention_days)
        # Fast path: one set lookup and one chained comparison per row; only a row that fails them
        # goes through ``_problem``, which finds the reason (same verdicts, less client CPU per row).
        writable = {(d.device_id, m) for d in devices.values() if d.status != "decommissioned" for m in d.metrics}
        seen: set[tuple[str, str, datetime]] = set()
        accepted: list[Reading] = []
        for index, reading in parsed.readings:
            if (reading.device_id, reading.metric) not in writable or not (
                earliest_allowed <= reading.time <= latest_allowed
            ):
                problem = _problem(reading, devices.get(reading.device_id), latest_allowed, earliest_allowed)
                assert problem is not None, "the fast path refused a row that _problem accepts"
                result.rejected.append(Rejection(index, *problem))
                continue
            key = (reading.device_id, reading.metric, reading.time)
            if key in seen:  # the first of several rows for one series and time wins
                result.duplicates += 1
                continue
            seen.add(key)
            accepted.append(reading)
        return accepted

    async def _write(
        self,
        conn: Conn,
        readings: list[Reading],
        devices: dict[str, DeviceInfo],
        context: CommandContext | None,
        result: IngestResult,
    ) -> None:
        batch_series = sorted({(r.device_id, r.metric) for r in readings})
        with_threshold = [s for s in batch_series if s[1] in devices[s[0]].thresholds]
        if with_threshold:
            await conn.execute(_ADD_SERIES, [s[0] for s in with_threshold], [s[1] for s in with_threshold])
        rows = await conn.fetch(_LOCK_SERIES, [s[0] for s in batch_series], [s[1] for s in batch_series])
        watched = {(r["device_id"], r["metric"]): r["open_alert_id"] for r in rows}
        outcome = await self._store.write(conn, readings, watched)
        result.accepted = outcome.inserted
        result.duplicates += outcome.duplicates
        if not outcome.to_evaluate:
            return
        by_series: dict[Series, list[Reading]] = defaultdict(list)
        for reading in outcome.to_evaluate:
            by_series[(reading.device_id, reading.metric)].append(reading)
        async with postgres_unit_of_work(conn, self._codec, context=context) as uow:
            sink: AlertSink = UnitOfWorkAlerts(uow)
            for series, new in sorted(by_series.items()):
                await self._evaluate(
                    conn,
                    sink=sink,
                    series=series,
                    readings=new,
                    devices=devices,
                    open_alert_id=watched.get(series),
                    result=result,
                )

    async def _evaluate(
        self,
        conn: Conn,
        *,
        sink: AlertSink,
        series: Series,
        readings: list[Reading],
        devices: dict[str, DeviceInfo],
        open_alert_id: str | None,
        result: IngestResult,
    ) -> None:
        if open_alert_id is not None and not await sink.is_open(open_alert_id):
            open_alert_id = None  # resolved by hand since
        threshold = devices[series[0]].thresholds.get(series[1])
        decisions, still_open = evaluate_series(readings, threshold, open_alert_id)
        for decision in decisions:
            await sink.apply(decision)
            if isinstance(decision, RaiseFor):
                result.alerts_raised += 1
            else:
                result.alerts_resolved += 1
        if decisions or still_open != open_alert_id:
            await conn.execute(
                "UPDATE series_alert_state SET open_alert_id = $3 WHERE device_id = $1 AND metric = $2",
                series[0],
                series[1],
                still_open,
            )

    def _observe(self, result: IngestResult, seconds: float) -> None:
        INGEST_BATCH_SECONDS.observe(seconds)
        READINGS_INGESTED.labels(self._store.info.name).inc(result.accepted)
        READINGS_DUPLICATE.inc(result.duplicates)
        for rejection in result.rejected:
            READINGS_REJECTED.labels(rejection.reason).inc()


def _days(readings: list[Reading]) -> set[date]:
    """The UTC days of these readings. A batch repeats few distinct times (many series share a
    timestamp), so converting each distinct time once is several times cheaper than every row's."""
    return {utc_day(t) for t in {r.time for r in readings}}


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.CheckViolationError):
        return is_missing_partition(exc)
    return True


def _problem(
    reading: Reading, device: DeviceInfo | None, latest_allowed: datetime, earliest_allowed: datetime
) -> tuple[str, str] | None:
    if device is None:
        return "unknown_device", f"no device with id {reading.device_id!r}: register it first (POST /v1/devices)"
    if device.status == "decommissioned":
        return "decommissioned_device", f"device {reading.device_id!r} is decommissioned and accepts no readings"
    if reading.metric not in device.metrics:
        known = ", ".join(sorted(device.metrics))
        return "unknown_metric", f"device {reading.device_id!r} has no metric {reading.metric!r}; its metrics: {known}"
    if reading.time > latest_allowed:
        return "future_time", (
            f"time {reading.time.isoformat()} is more than 5 minutes in the future "
            f"(server time {(latest_allowed - MAX_FUTURE).isoformat()})"
        )
    if reading.time < earliest_allowed:
        return "too_old", (
            f"time {reading.time.isoformat()} is older than raw retention keeps (from {earliest_allowed.isoformat()})"
        )
    return None
