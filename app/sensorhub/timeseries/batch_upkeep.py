"""A batch's ``ingest_upkeep`` row computed from the batch itself (no I/O), for a write in which
every reading was inserted (the direct ``COPY``, see ``store.py``): the newest reading per series
and every (series, hour) with a reading, hours epoch-aligned in UTC as ``date_bin('1 hour', …)``
gives them. One pass over the batch with a hash per series, instead of the merge statement's sort."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter, le
from typing import TYPE_CHECKING

from sensorhub.db import array_literal

if TYPE_CHECKING:  # store.py imports this module
    from sensorhub.timeseries.store import Reading


@dataclass
class UpkeepRow:
    """The columns of one ``ingest_upkeep`` row (migration 0013), as parallel arrays."""

    latest_devices: list[str] = field(default_factory=list)
    latest_metrics: list[str] = field(default_factory=list)
    latest_times: list[datetime] = field(default_factory=list)
    latest_values: list[float] = field(default_factory=list)
    hour_devices: list[str] = field(default_factory=list)
    hour_metrics: list[str] = field(default_factory=list)
    hours: list[datetime] = field(default_factory=list)

    def literals(self) -> tuple[str, ...]:
        """The seven columns as array literals, for ``$n::text::<type>[]`` (``db.array_literal``)."""
        return tuple(
            array_literal(column)
            for column in (self.latest_devices, self.latest_metrics, self.latest_times, self.latest_values,
                           self.hour_devices, self.hour_metrics, self.hours)
        )


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in (``date_bin('1 hour', moment, epoch)``)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


_SERIES = attrgetter("device_id", "metric")
_TIME = attrgetter("time")


def upkeep_of(readings: Sequence[Reading]) -> UpkeepRow:
    """The upkeep row of a batch all of whose readings were inserted (unique per series and time).
    The per-row work runs in C iterators: the newest reading per series is the last one of the
    series in time order (a batch in time order, the usual one, is not sorted again)."""
    times = list(map(_TIME, readings))
    ordered = readings if all(map(le, times, times[1:])) else sorted(readings, key=_TIME)
    newest = dict(zip(map(_SERIES, ordered), ordered, strict=True))
    hour_by_time = {t: hour_of(t) for t in set(times)}  # a batch repeats few times
    row = UpkeepRow()
    for (device_id, metric), r in newest.items():
        row.latest_devices.append(device_id)
        row.latest_metrics.append(metric)
        row.latest_times.append(r.time)
        row.latest_values.append(r.value)
    if len(set(hour_by_time.values())) == 1:  # the usual batch: one hour, so one mark per series
        hour = next(iter(hour_by_time.values()))
        row.hour_devices, row.hour_metrics = row.latest_devices, row.latest_metrics
        row.hours = [hour] * len(newest)
        return row
    for device_id, metric, hour in {(r.device_id, r.metric, hour_by_time[r.time]) for r in readings}:
        row.hour_devices.append(device_id)
        row.hour_metrics.append(metric)
        row.hours.append(hour)
    return row
