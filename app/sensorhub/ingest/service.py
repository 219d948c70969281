"""``ReadingsIngest``: a parsed batch is validated, stored and evaluated against thresholds in one
transaction (a request is all or nothing). The upkeep of ``latest_readings`` and the rollup marks is
recorded in that transaction and applied after the commit (``timeseries/upkeep.py``).

The batch is first written by the direct ``COPY`` (``TimeSeriesStore.write(direct=True)``); if a
reading was stored already, that transaction fails on the unique key and is run again staged and
merged (duplicates skipped and counted), and the next ``MERGE_AFTER_CONFLICT`` batches of this
process go straight to the merge, so a client that keeps resending readings costs one wasted
``COPY`` in that many batches."""

from __future__ import annotations

import asyncio
import time as timer
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from sensorhub.application.ports import EventCodec
from sensorhub.application.unit_of_work import CommandContext, utc_now
from sensorhub.db import Conn
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work
from sensorhub.ingest.alerting import UnitOfWorkAlerts, evaluate_batch
from sensorhub.ingest.catalog import DeviceCatalog, DeviceInfo
from sensorhub.ingest.rows import Parsed, Rejection
from sensorhub.ingest.validation import Validated, validate
from sensorhub.observability import INGEST_BATCH_SECONDS, READINGS_DUPLICATE, READINGS_INGESTED, READINGS_REJECTED
from sensorhub.timeseries.store import TimeSeriesStore, days_of, is_missing_partition
from sensorhub.timeseries.upkeep import Drainer

ATTEMPTS = 3
MERGE_AFTER_CONFLICT = 32  # batches merged without trying the direct COPY after one found a duplicate


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    alerts_raised: int = 0
    alerts_resolved: int = 0
    upkeep: bool = False  # an upkeep row was committed with the batch


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
        upkeep_delay: float | None = 0.05,
    ) -> None:
        self._pool = pool
        # ``upkeep_delay``: seconds from a commit to the background drain of its upkeep (batches
        # committed meanwhile are drained together); ``None``: drained before ``ingest`` returns.
        self.upkeep = Drainer(pool, upkeep_delay)
        self._notifier = notifier
        self._store = store
        self.catalog = catalog
        self._codec = codec
        self._retention_days = retention_days
        self._clock = clock
        self._merge_next = 0  # batches left to merge before the direct COPY is tried again

    async def ingest(self, parsed: Parsed, context: CommandContext | None = None) -> IngestResult:
        started = timer.perf_counter()
        async with self._pool.acquire() as conn:
            devices = await self.catalog.get(conn, {r.device_id for _, r in parsed.readings})
            checked = validate(parsed, devices, self._clock(), self._retention_days)
            result = await self._store_and_evaluate(conn, checked, devices, context)
            if result.upkeep:
                await self.upkeep.after_commit(conn)
        if self._notifier is not None and (result.alerts_raised or result.alerts_resolved):
            self._notifier.committed()  # alert events committed with the readings
        result.rejected.sort(key=lambda r: r.index)
        self._observe(result, timer.perf_counter() - started)
        return result

    async def _store_and_evaluate(
        self, conn: Conn, checked: Validated, devices: dict[str, DeviceInfo], context: CommandContext | None
    ) -> IngestResult:
        """One transaction, retried on a deadlock, a serialization failure or a dropped partition,
        and run again merged when the direct ``COPY`` met a reading stored already."""
        days = days_of(checked.accepted)
        await self._store.ensure_days(conn, days)  # DDL: outside the transaction
        direct = self._merge_next == 0
        if not direct:
            self._merge_next -= 1
        attempt = 1
        while True:
            try:
                async with conn.transaction():
                    return await self._write(conn, checked, devices, context, direct)
            except asyncpg.UniqueViolationError:
                if not direct:
                    raise
                direct = False  # a duplicate (or a concurrent writer of the same reading): merge
                self._merge_next = MERGE_AFTER_CONFLICT
                continue
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError, asyncpg.CheckViolationError) as exc:
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                direct = False  # two direct COPYs of the same readings can deadlock on the key
            self._store.forget_days()  # another replica may have dropped a partition
            await self._store.ensure_days(conn, days)
            await asyncio.sleep(0.01 * attempt)
            attempt += 1

    async def _write(
        self,
        conn: Conn,
        checked: Validated,
        devices: dict[str, DeviceInfo],
        context: CommandContext | None,
        direct: bool,
    ) -> IngestResult:
        thresholds = {(d.device_id, m) for d in devices.values() for m in d.thresholds}
        written = await self._store.write(
            conn, checked.accepted, thresholds, direct=direct, unique=checked.unique
        )
        result = IngestResult(written.inserted, checked.duplicates + written.duplicates, list(checked.rejected))
        result.upkeep = written.upkeep
        if written.to_evaluate:
            async with postgres_unit_of_work(conn, self._codec, context=context) as uow:
                evaluation = await evaluate_batch(
                    UnitOfWorkAlerts(uow), written.to_evaluate, devices, written.open_alerts
                )
            await self._store.set_open_alerts(conn, evaluation.open_alerts)
            result.alerts_raised, result.alerts_resolved = evaluation.raised, evaluation.resolved
        return result

    def _observe(self, result: IngestResult, seconds: float) -> None:
        INGEST_BATCH_SECONDS.observe(seconds)
        READINGS_INGESTED.labels(self._store.info.name).inc(result.accepted)
        READINGS_DUPLICATE.inc(result.duplicates)
        for rejection in result.rejected:
            READINGS_REJECTED.labels(rejection.reason).inc()


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.CheckViolationError):
        return is_missing_partition(exc)
    return True
