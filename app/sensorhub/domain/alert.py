"""The Alert aggregate: open → acknowledged → resolved (by hand, or automatically by a reading)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sensorhub.domain import alert_events as ev
from sensorhub.domain.aggregate import Aggregate, Event
from sensorhub.domain.alert_commands import AcknowledgeAlert, AutoResolveAlert, RaiseAlert, ResolveAlert
from sensorhub.domain.errors import AlertAlreadyResolved, AlertNotOpen, InvalidCommand
from sensorhub.domain.values import Bounds, Severity, check_bounds, check_severity, check_text

AlertStatus = Literal["open", "acknowledged", "resolved"]


@dataclass(frozen=True)
class AlertState:
    alert_id: str
    device_id: str
    metric: str
    severity: Severity
    trigger_value: float
    threshold: Bounds
    raised_at: datetime
    status: AlertStatus = "open"
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: Literal["manual", "auto"] | None = None
    note: str | None = None


class Alert(Aggregate[AlertState]):
    STREAM_TYPE = "Alert"
    CREATED_BY = "AlertRaised"
    STATE_TYPE = AlertState
    SNAPSHOT_VERSION = 1

    @classmethod
    def raise_(cls, cmd: RaiseAlert) -> Alert:
        if not math.isfinite(cmd.trigger_value):
            raise InvalidCommand(f"trigger_value must be a finite number, got {cmd.trigger_value!r}")
        if cmd.raised_at.tzinfo is None:
            raise InvalidCommand("raised_at must carry a time zone offset")
        bounds = check_bounds(cmd.threshold.min, cmd.threshold.max)
        alert = cls(check_text("alert_id", cmd.alert_id, max_length=128))
        alert.record(
            ev.AlertRaised(
                alert_id=cmd.alert_id,
                device_id=cmd.device_id,
                metric=cmd.metric,
                severity=check_severity(cmd.severity),
                trigger_value=cmd.trigger_value,
                threshold=bounds,
                raised_at=cmd.raised_at,
            )
        )
        return alert

    def acknowledge(self, cmd: AcknowledgeAlert) -> None:
        if self.state.status != "open":
            raise AlertNotOpen(f"alert {self.id} is {self.state.status}; only an open alert can be acknowledged")
        self.record(ev.AlertAcknowledged(self.id, check_text("by", cmd.by), _note(cmd.note), cmd.at))

    def resolve(self, cmd: ResolveAlert) -> None:
        if self.state.status == "resolved":
            raise AlertAlreadyResolved(f"alert {self.id} is already resolved")
        by = check_text("by", cmd.by) if cmd.by is not None else None
        self.record(ev.AlertResolved(self.id, by, _note(cmd.note), cmd.at))

    def auto_resolve(self, cmd: AutoResolveAlert) -> None:
        """A reading back within bounds resolves the alert; on a resolved alert this does nothing,
        so ingest may repeat it safely."""
        if self.state.status == "resolved":
            return
        if cmd.reading_time < self.state.raised_at:
            raise InvalidCommand(
                f"reading at {cmd.reading_time.isoformat()} is older than the alert "
                f"(raised at {self.state.raised_at.isoformat()}); readings resolve alerts in time order"
            )
        self.record(ev.AlertAutoResolved(self.id, cmd.value, cmd.reading_time))

    @classmethod
    def evolve(cls, state: AlertState | None, event: Event) -> AlertState:
        if isinstance(event, ev.AlertRaised):
            return AlertState(
                alert_id=event.alert_id,
                device_id=event.device_id,
                metric=event.metric,
                severity=event.severity,
                trigger_value=event.trigger_value,
                threshold=event.threshold,
                raised_at=event.raised_at,
            )
        if state is None:
            raise ValueError(f"{type(event).__name__} before AlertRaised")
        match event:
            case ev.AlertAcknowledged(by=by, note=note, acknowledged_at=at):
                return replace(state, status="acknowledged", acknowledged_by=by, acknowledged_at=at, note=note)
            case ev.AlertResolved(by=by, note=note, resolved_at=at):
                return replace(
                    state,
                    status="resolved",
                    resolved_by=by,
                    resolved_at=at,
                    resolution="manual",
                    note=note if note is not None else state.note,
                )
            case ev.AlertAutoResolved(resolved_at=at):
                return replace(state, status="resolved", resolved_at=at, resolution="auto")
            case _:
                raise TypeError(f"Alert cannot apply {type(event).__name__}")


def _note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    return check_text("note", note, max_length=2000)
