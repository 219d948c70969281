"""The time-series maintenance job (``sensorhub maintenance``), one run:

1. partitions for today and ``partitions_ahead_days`` ahead (plain PostgreSQL; TimescaleDB makes
   chunks on insert);
2. ingest upkeep left pending (a crash between an ingest commit and its drain: ``upkeep.py``), then
   hourly rollups for every hour ingest marked (late readings included);
3. compression: each day wholly older than ``compress_after_days`` is compressed with the method
   ``SENSORHUB_COMPRESSION`` resolves to on this server (``compression.method_for``), pausing after
   each group transaction so that it is busy for at most ``compression_duty`` of the time (``throttle.py``);
4. raw retention: each whole day older than ``raw_retention_days`` is archived (when an archive is
   configured; ``archive_day`` returns only once the day's archive is complete) and then its packed
   rows and its partition or chunk are dropped;
5. rollup retention: hourly rows older than ``rollup_retention_days`` are deleted;
6. alert archiving: resolved alerts older than ``alert_archive_after_days`` move to the event
   store's archive (``application.archiving``; one transaction per batch of streams).

Any number of replicas may run it: a session advisory lock elects one; the others skip the run.
Every step is idempotent, so a run interrupted half-way is finished by the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sensorhub.application.archiving import archive_resolved_alerts
from sensorhub.db import Conn
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.observability import get_logger
from sensorhub.settings import Settings
from sensorhub.timeseries import compression, rollups, upkeep
from sensorhub.timeseries.archive import ArchiveSink, archive_day, sink_for
from sensorhub.timeseries.store import TimeSeriesStore
from sensorhub.timeseries.throttle import DutyCycle

LEADER_LOCK = 0x5E5E_0005
log = get_logger("sensorhub.maintenance")


@dataclass
class MaintenanceReport:
    ran: bool
    engine: str = ""
    partitions_created: list[str] = field(default_factory=list)
    upkeep_drained: int = 0
    hours_rolled_up: int = 0
    days_compressed: list[str] = field(default_factory=list)
    readings_compressed: int = 0
    compression_paused_s: float = 0.0  # the throttle's pauses (SENSORHUB_COMPRESSION_DUTY)
    archived_rows: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    rollup_rows_deleted: int = 0
    alert_streams_archived: int = 0
    alert_events_archived: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MaintenancePolicy:
    raw_retention_days: int
    rollup_retention_days: int
    partitions_ahead_days: int
    rollup_batch_hours: int
    archive_groups: int
    compress_after_days: int = 0
    alert_archive_after_days: int = 0
    compression: compression.Choice = "auto"
    compression_duty: float = 1.0  # the share of wall time compression may be busy (1: no pause)

    @classmethod
    def from_settings(cls, settings: Settings) -> MaintenancePolicy:
        return cls(
            settings.raw_retention_days,
            settings.rollup_retention_days,
            settings.partitions_ahead_days,
            settings.rollup_batch_hours,
            settings.archive_device_groups,
            settings.compress_after_days,
            settings.alert_archive_after_days,
            settings.compression,
            settings.compression_duty,
        )


def start_of_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def run_once(
    conn: Conn,
    store: TimeSeriesStore,
    policy: MaintenancePolicy,
    *,
    archive: ArchiveSink | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> MaintenanceReport:
    """One run on ``conn`` (a dedicated connection: the leader lock lives in its session); ``sleep``
    takes compression's pauses (``policy.compression_duty``)."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK):
        log.info("maintenance skipped: another replica is running it")
        return MaintenanceReport(ran=False)
    try:
        report = await _run(conn, store, policy, archive, now or datetime.now(UTC), sleep=sleep)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LEADER_LOCK)
    log.info("maintenance done", **report.as_dict())
    return report


async def _run(
    conn: Conn,
    store: TimeSeriesStore,
    policy: MaintenancePolicy,
    archive: ArchiveSink | None,
    now: datetime,
    *,
    sleep: Callable[[float], Awaitable[None]],
) -> MaintenanceReport:
    report = MaintenanceReport(ran=True, engine=store.info.name)
    today = start_of_day(now).date()
    report.partitions_created = await store.engine.ensure_partitions(
        conn, today, today + timedelta(days=policy.partitions_ahead_days)
    )
    report.upkeep_drained = await upkeep.drain_all(conn)
    report.hours_rolled_up = await rollups.refresh(conn, policy.rollup_batch_hours)
    raw_cutoff = start_of_day(now) - timedelta(days=policy.raw_retention_days)
    partitions = await store.engine.partitions(conn)
    throttle = DutyCycle(policy.compression_duty, sleep=sleep)
    packed = await compression.compress_sealed(
        conn,
        compression.method_for(store.info, policy.compression),
        [p for p in partitions if p.end > raw_cutoff],
        now,
        after_days=policy.compress_after_days,
        groups=policy.archive_groups,
        throttle=throttle,
    )
    report.days_compressed, report.readings_compressed = packed.days, packed.readings
    report.compression_paused_s = round(throttle.paused_s, 3)
    for partition in partitions:
        if partition.end > raw_cutoff:
            continue
        if archive is not None:
            report.archived_rows += await archive_day(conn, archive, partition, policy.archive_groups)
        await compression.drop_packed_before(conn, partition.end)
        await store.engine.drop_partition(conn, partition)
        report.partitions_dropped.append(partition.name)
    await compression.drop_packed_before(conn, raw_cutoff)
    await rollups.forget_before(conn, raw_cutoff)
    rollup_cutoff = start_of_day(now) - timedelta(days=policy.rollup_retention_days)
    report.rollup_rows_deleted = await rollups.delete_before(conn, rollup_cutoff)
    if policy.alert_archive_after_days > 0:
        archived = await archive_resolved_alerts(
            PostgresEventStore(conn), now - timedelta(days=policy.alert_archive_after_days)
        )
        report.alert_streams_archived, report.alert_events_archived = archived.streams, archived.events
    await conn.execute(
        "INSERT INTO timeseries_maintenance (task, ran_at, detail) VALUES ('run', $1, $2) "
        "ON CONFLICT (task) DO UPDATE SET ran_at = excluded.ran_at, detail = excluded.detail",
        now,
        report.as_dict(),
    )
    return report


def archive_from_settings(settings: Settings) -> ArchiveSink | None:
    return sink_for(settings.archive_url, settings.archive_s3_endpoint_url) if settings.archive_url else None


async def serve(settings: Settings, *, loop: bool) -> MaintenanceReport:
    """``sensorhub maintenance``: a run every ``maintenance_interval_s`` (or just one without ``loop``).
    A failed run is logged and retried at the next interval, so a database restart does not stop the worker."""
    from sensorhub.db import connect

    archive = archive_from_settings(settings)
    while True:
        try:
            conn = await connect(settings.database_url)
            try:
                store = await TimeSeriesStore.open(conn, settings.timeseries_engine)
                # A compression method this server cannot run stops the worker: no later run would differ.
                compression.method_for(store.info, settings.compression)
                report = await run_once(conn, store, MaintenancePolicy.from_settings(settings), archive=archive)
            finally:
                await conn.close()
        except Exception as exc:
            if not loop or isinstance(exc, compression.CompressionConfigError):
                raise
            log.warning("maintenance run failed; retrying at the next interval", error=repr(exc))
        else:
            if not loop:
                return report
        await asyncio.sleep(settings.maintenance_interval_s)
