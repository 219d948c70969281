"""What ingest and operators ask of an alert. Times are given by the caller: the domain has no clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sensorhub.domain.values import Bounds


@dataclass(frozen=True)
class RaiseAlert:
    alert_id: str
    device_id: str
    metric: str
    severity: str
    trigger_value: float
    threshold: Bounds
    raised_at: datetime


@dataclass(frozen=True)
class AcknowledgeAlert:
    alert_id: str
    by: str
    note: str | None
    at: datetime
    expected_version: int | None = None


@dataclass(frozen=True)
class ResolveAlert:
    alert_id: str
    by: str | None
    note: str | None
    at: datetime
    expected_version: int | None = None


@dataclass(frozen=True)
class AutoResolveAlert:
    alert_id: str
    value: float
    reading_time: datetime
