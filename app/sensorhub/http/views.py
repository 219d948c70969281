"""Wire shapes of devices, alerts and stored events (msgspec structs; unknown body fields → 422), and
the one mapper to each from its sources: aggregate state (event store) or a read-model row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from sensorhub.application.stored_events import RecordedEvent
from sensorhub.domain.alert import AlertState
from sensorhub.domain.device import DeviceState


class MetricBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    unit: str


class RegisterDeviceBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    site: str
    kind: str
    metrics: list[MetricBody]
    device_id: str | None = None


class UpdateDeviceBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    site: str | None = None


class ThresholdBody(msgspec.Struct, forbid_unknown_fields=True):
    severity: str
    min: float | None = None
    max: float | None = None


class AcknowledgeBody(msgspec.Struct, forbid_unknown_fields=True):
    by: str
    note: str | None = None


class ResolveBody(msgspec.Struct, forbid_unknown_fields=True):
    by: str | None = None
    note: str | None = None


class ThresholdView(msgspec.Struct):
    metric: str
    min: float | None
    max: float | None
    severity: str


class DeviceView(msgspec.Struct):
    device_id: str
    name: str
    site: str
    kind: str
    status: str
    metrics: list[MetricBody]
    thresholds: list[ThresholdView]
    version: int
    open_alerts: int | None = None  # known to the read model, not to the event store
    last_seen_at: datetime | None = None
    position: int | None = None  # in command responses: the global position of the last event


class BoundsView(msgspec.Struct):
    min: float | None
    max: float | None


class AlertView(msgspec.Struct):
    alert_id: str
    device_id: str
    metric: str
    severity: str
    status: str
    raised_at: datetime
    trigger_value: float
    threshold: BoundsView
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    note: str | None
    version: int
    position: int | None = None


class EventItem(msgspec.Struct):
    event_id: str
    stream_id: str
    type: str
    schema_version: int
    stream_version: int
    position: int
    recorded_at: datetime
    data: dict[str, Any]
    metadata: dict[str, Any]


class EventPage(msgspec.Struct):
    items: list[EventItem]
    next_cursor: str | None


def device_from_state(state: DeviceState, version: int, position: int | None = None) -> DeviceView:
    return DeviceView(
        device_id=state.device_id,
        name=state.name,
        site=state.site,
        kind=state.kind,
        status=state.status,
        metrics=[MetricBody(m.name, m.unit) for m in state.metrics],
        thresholds=[ThresholdView(t.metric, t.min, t.max, t.severity) for t in state.thresholds],
        version=version,
        position=position,
    )


def alert_from_state(state: AlertState, version: int, position: int | None = None) -> AlertView:
    return AlertView(
        alert_id=state.alert_id,
        device_id=state.device_id,
        metric=state.metric,
        severity=state.severity,
        status=state.status,
        raised_at=state.raised_at,
        trigger_value=state.trigger_value,
        threshold=BoundsView(state.threshold.min, state.threshold.max),
        acknowledged_by=state.acknowledged_by,
        acknowledged_at=state.acknowledged_at,
        resolved_by=state.resolved_by,
        resolved_at=state.resolved_at,
        resolution=state.resolution,
        note=state.note,
        version=version,
        position=position,
    )


def device_from_row(row: dict[str, Any]) -> DeviceView:
    return DeviceView(
        device_id=row["device_id"],
        name=row["name"],
        site=row["site"],
        kind=row["kind"],
        status=row["status"],
        metrics=[MetricBody(m["name"], m["unit"]) for m in row["metrics"]],
        thresholds=[
            ThresholdView(metric, t.get("min"), t.get("max"), t["severity"])
            for metric, t in sorted(row["thresholds"].items())
        ],
        version=row["version"],
        open_alerts=row["open_alerts"],
    )


def alert_from_row(row: dict[str, Any]) -> AlertView:
    return AlertView(
        alert_id=row["alert_id"],
        device_id=row["device_id"],
        metric=row["metric"],
        severity=row["severity"],
        status=row["status"],
        raised_at=row["raised_at"],
        trigger_value=row["trigger_value"],
        threshold=BoundsView(row["threshold"].get("min"), row["threshold"].get("max")),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        resolved_by=row["resolved_by"],
        resolved_at=row["resolved_at"],
        resolution=row["resolution"],
        note=row["note"],
        version=row["version"],
    )


def event_item(record: RecordedEvent) -> EventItem:
    return EventItem(
        event_id=str(record.event_id),
        stream_id=record.stream_id,
        type=record.type,
        schema_version=record.schema_version,
        stream_version=record.stream_version,
        position=record.position,
        recorded_at=record.recorded_at,
        data=record.data,
        metadata=record.metadata,
    )
