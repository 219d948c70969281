"""Which rows of a parsed batch ingest may store, and why the others are rejected. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from sensorhub.ingest.catalog import DeviceInfo
from sensorhub.ingest.rows import Parsed, Rejection
from sensorhub.timeseries.store import Reading

MAX_FUTURE = timedelta(minutes=5)


@dataclass
class Validated:
    accepted: list[Reading] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: int = 0  # rows repeating an earlier row's series and time (found here)
    # ``accepted`` is unique per (device, metric, time); ``False``: not checked here (the usual
    # batch), the store's write finds and skips repeats (``TimeSeriesStore.write(unique=False)``).
    unique: bool = True


def oldest_kept(now: datetime, retention_days: int) -> datetime:
    """The start of the oldest day that raw retention still keeps."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=retention_days)


_SERIES = attrgetter("device_id", "metric")
_TIME = attrgetter("time")


def validate(parsed: Parsed, devices: Mapping[str, DeviceInfo], now: datetime, retention_days: int) -> Validated:
    """Accept the rows of known, active devices and metrics inside the time window; the first of
    several rows for one series and time wins."""
    latest_allowed, earliest_allowed = now + MAX_FUTURE, oldest_kept(now, retention_days)
    writable = {(d.device_id, m) for d in devices.values() if d.status != "decommissioned" for m in d.metrics}
    readings = [r for _, r in parsed.readings]
    # The usual batch, checked per distinct series and by its oldest and newest time, with the
    # per-row work done by C iterators: every row writable and in the window. Whether two rows
    # repeat a series and time is left to the write (the direct COPY fails on it; the merge skips
    # the later ones). Any other batch takes the row-by-row walk, which says why each refused row
    # is refused and drops repeats.
    if readings and set(map(_SERIES, readings)) <= writable:
        times = list(map(_TIME, readings))
        if earliest_allowed <= min(times) and max(times) <= latest_allowed:
            return Validated(accepted=readings, rejected=list(parsed.rejected), unique=False)
    return _walk(parsed, devices, writable, latest_allowed, earliest_allowed)


def _walk(
    parsed: Parsed,
    devices: Mapping[str, DeviceInfo],
    writable: set[tuple[str, str]],
    latest_allowed: datetime,
    earliest_allowed: datetime,
) -> Validated:
    # One set lookup and one comparison per row; only a refused row goes through ``_problem``.
    seen: set[tuple[str, str, datetime]] = set()
    out = Validated(rejected=list(parsed.rejected))
    for index, reading in parsed.readings:
        if (reading.device_id, reading.metric) not in writable or not (
            earliest_allowed <= reading.time <= latest_allowed
        ):
            problem = _problem(reading, devices.get(reading.device_id), latest_allowed, earliest_allowed)
            assert problem is not None, "the fast path refused a row that _problem accepts"
            out.rejected.append(Rejection(index, *problem))
            continue
        key = (reading.device_id, reading.metric, reading.time)
        if key in seen:
            out.duplicates += 1
            continue
        seen.add(key)
        out.accepted.append(reading)
    return out


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
