"""Threshold evaluation per series, in reading-time order, and the port through which its
decisions become Alert commands (``AlertSink``).

Determinism: an alert's id is derived from (device, metric, time of the reading that raised it), and
a series is evaluated only over readings newer than the newest one stored before the batch. So the
same readings, delivered in time order in any split into batches (and in any order inside a
batch), raise and resolve the same alerts. A reading older than the newest stored reading of its
series is late: it is stored, but it does not change alert state.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Protocol

from sensorhub.application.alerts import auto_resolve_alert, raise_alert
from sensorhub.application.unit_of_work import UnitOfWork
from sensorhub.domain.alert_commands import AutoResolveAlert, RaiseAlert
from sensorhub.domain.device import Threshold
from sensorhub.ingest.catalog import DeviceInfo
from sensorhub.timeseries.store import Reading, Series

_ALERT_IDS = uuid.UUID("6f0c2f8e-55a1-4c1e-9a57-0e9d4d0b5a11")


def alert_id_for(device_id: str, metric: str, time: datetime) -> str:
    return str(uuid.uuid5(_ALERT_IDS, f"{device_id}\n{metric}\n{time.astimezone(UTC).isoformat()}"))


@dataclass(frozen=True)
class RaiseFor:
    alert_id: str
    reading: Reading
    threshold: Threshold


@dataclass(frozen=True)
class ResolveBy:
    alert_id: str
    reading: Reading


Decision = RaiseFor | ResolveBy


def evaluate_series(
    readings: Sequence[Reading], threshold: Threshold | None, open_alert_id: str | None
) -> tuple[list[Decision], str | None]:
    """Walk one series' new readings in time order; return the decisions and the open alert after them."""
    decisions: list[Decision] = []
    for reading in sorted(readings, key=lambda r: r.time):
        breaks = threshold is not None and not threshold.bounds.contains(reading.value)
        if breaks and open_alert_id is None and threshold is not None:
            open_alert_id = alert_id_for(reading.device_id, reading.metric, reading.time)
            decisions.append(RaiseFor(open_alert_id, reading, threshold))
        elif not breaks and open_alert_id is not None:
            decisions.append(ResolveBy(open_alert_id, reading))
            open_alert_id = None
    return decisions, open_alert_id


class AlertSink(Protocol):
    async def is_open(self, alert_id: str) -> bool: ...

    async def apply(self, decision: Decision) -> None: ...


class UnitOfWorkAlerts:
    """Decisions as Alert commands, appended through a unit of work on the ingest transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def is_open(self, alert_id: str) -> bool:
        alert = await self._uow.alerts.find(alert_id)
        return alert is not None and alert.state.status != "resolved"

    async def apply(self, decision: Decision) -> None:
        reading = decision.reading
        if isinstance(decision, RaiseFor):
            t = decision.threshold
            command = RaiseAlert(
                decision.alert_id, reading.device_id, reading.metric, t.severity, reading.value, t.bounds, reading.time
            )
            await raise_alert(command, self._uow)
        else:
            await auto_resolve_alert(AutoResolveAlert(decision.alert_id, reading.value, reading.time), self._uow)


@dataclass
class Evaluation:
    raised: int = 0
    resolved: int = 0
    # (device_id, metric, open alert id) of every series whose open alert changed.
    open_alerts: list[tuple[str, str, str | None]] = field(default_factory=list)


async def evaluate_batch(
    sink: AlertSink,
    new: Sequence[Reading],
    devices: Mapping[str, DeviceInfo],
    open_alerts: Mapping[Series, str | None],
) -> Evaluation:
    """Evaluate each series of ``new`` (grouped by series) against its threshold and open alert,
    series by series in a fixed order, applying the decisions through ``sink``."""
    out = Evaluation()
    by_series = {series: list(rows) for series, rows in groupby(new, key=lambda r: (r.device_id, r.metric))}
    for (device_id, metric), readings in sorted(by_series.items()):
        open_alert_id = open_alerts.get((device_id, metric))
        if open_alert_id is not None and not await sink.is_open(open_alert_id):
            open_alert_id = None  # resolved by hand since
        decisions, still_open = evaluate_series(readings, devices[device_id].thresholds.get(metric), open_alert_id)
        for decision in decisions:
            await sink.apply(decision)
            if isinstance(decision, RaiseFor):
                out.raised += 1
            else:
                out.resolved += 1
        if decisions or still_open != open_alert_id:
            out.open_alerts.append((device_id, metric, still_open))
    return out
