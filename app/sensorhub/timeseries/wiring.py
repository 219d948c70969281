"""The time-series side of a running process: the store for the detected engine, ingest, and a
readiness check that names the engine. Built by :func:`attach` from ``bootstrap.open_services``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sensorhub.eventstore.event_types import build_registry
from sensorhub.ingest.catalog import EventStoreDeviceCatalog
from sensorhub.ingest.service import ReadingsIngest
from sensorhub.observability import get_logger
from sensorhub.timeseries.engines import EngineError
from sensorhub.timeseries.store import TimeSeriesStore

if TYPE_CHECKING:
    from sensorhub.bootstrap import CheckResult, Services

log = get_logger("sensorhub.timeseries")
KEY = "timeseries"


@dataclass(frozen=True)
class TimeSeriesSide:
    store: TimeSeriesStore
    ingest: ReadingsIngest


async def attach(services: Services) -> TimeSeriesSide | None:
    """Detect the engine, make sure ``readings`` exists, and register ``services.extras["timeseries"]``.
    A database that is not migrated yet is reported by readiness rather than failing start-up."""
    from sensorhub.bootstrap import CheckResult

    settings = services.settings
    async with services.pool.acquire() as conn:
        if await conn.fetchval("SELECT to_regclass('timeseries_engine')") is None:
            log.warning("time-series tables missing: run `sensorhub migrate`")
            services.readiness[KEY] = _fixed(CheckResult(False, "time-series tables missing: run `sensorhub migrate`"))
            return None
        try:
            store = await TimeSeriesStore.open(conn, settings.timeseries_engine)
        except EngineError as exc:
            services.readiness[KEY] = _fixed(CheckResult(False, str(exc)))
            log.error("time-series engine unavailable", error=str(exc))
            return None
    registry = build_registry()
    ingest = ReadingsIngest(
        services.pool,
        store,
        EventStoreDeviceCatalog(registry),
        registry,
        retention_days=settings.raw_retention_days,
        notifier=services.append_notifier,
    )
    side = TimeSeriesSide(store, ingest)
    services.extras[KEY] = side
    services.readiness[KEY] = _fixed(CheckResult(True, store.info.describe(), critical=False))
    log.info("time-series engine", engine=store.info.name, detail=store.info.describe())
    return side


def _fixed(result: CheckResult):
    async def check(_: Services) -> CheckResult:
        return result

    return check


def side_of(services: Services) -> TimeSeriesSide:
    side = services.extras.get(KEY)
    if not isinstance(side, TimeSeriesSide):
        raise EngineError("the time-series store is not available (see /health/ready)")
    return side
