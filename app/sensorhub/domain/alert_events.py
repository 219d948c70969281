"""Facts about an alert's life: raised, acknowledged, resolved by hand or by a reading back in bounds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sensorhub.domain.aggregate import Event
from sensorhub.domain.values import Bounds, Severity


@dataclass(frozen=True)
class AlertRaised(Event):
    alert_id: str
    device_id: str
    metric: str
    severity: Severity
    trigger_value: float
    threshold: Bounds
    raised_at: datetime  # the time of the reading that broke the threshold


@dataclass(frozen=True)
class AlertAcknowledged(Event):
    alert_id: str
    by: str
    note: str | None
    acknowledged_at: datetime


@dataclass(frozen=True)
class AlertResolved(Event):
    alert_id: str
    by: str | None
    note: str | None
    resolved_at: datetime


@dataclass(frozen=True)
class AlertAutoResolved(Event):
    alert_id: str
    value: float
    resolved_at: datetime  # the time of the reading back within bounds
