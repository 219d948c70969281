"""Typed models of the sensorhub API, generated from its OpenAPI document by
``scripts/client_models.py``: do not edit by hand, regenerate."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec


class AcknowledgeBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    by: str
    note: str | None = None


class AlertEventPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[EventItem]
    next_cursor: str | None
    archived: bool


class AlertHistory(msgspec.Struct, kw_only=True, omit_defaults=True):
    device_id: str | None
    bucket: Any
    items: list[AlertTransition]
    next_cursor: str | None = None


class AlertPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[AlertView]
    next_cursor: str | None


class AlertTransition(msgspec.Struct, kw_only=True, omit_defaults=True):
    time: datetime
    device_id: str
    alert_id: str
    metric: str
    severity: str
    transition: str
    value: float | None
    actor: str | None
    position: int


class AlertView(msgspec.Struct, kw_only=True, omit_defaults=True):
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
    archived: bool | None = None


class BatchItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    status: int
    device: DeviceView | None = None
    detail: str | None = None


class BatchResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    created: int
    failed: int
    items: list[BatchItem]


class BoundsView(msgspec.Struct, kw_only=True, omit_defaults=True):
    min: float | None
    max: float | None


class BucketedAlertHistory(msgspec.Struct, kw_only=True, omit_defaults=True):
    device_id: str | None
    bucket: str
    items: list[TransitionCounts]


class CreatedKey(msgspec.Struct, kw_only=True, omit_defaults=True):
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    secret: str


class DayView(msgspec.Struct, kw_only=True, omit_defaults=True):
    day: str
    raw_bytes: int
    raw_readings: int
    packed_bytes: int
    packed_readings: int


class DevicePage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[DeviceView]
    next_cursor: str | None


class DeviceView(msgspec.Struct, kw_only=True, omit_defaults=True):
    device_id: str
    name: str
    site: str
    kind: str
    status: str
    metrics: list[MetricBody]
    thresholds: list[ThresholdView]
    version: int
    open_alerts: int | None = None
    last_seen_at: datetime | None = None
    position: int | None = None
    owner: OwnerView | None = None
    address: str | None = None


class EventItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    event_id: str
    stream_id: str
    type: str
    schema_version: int
    stream_version: int
    position: int
    recorded_at: datetime
    data: dict[str, Any]
    metadata: dict[str, Any]


class EventPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[EventItem]
    next_cursor: str | None


class IngestResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    accepted: int
    duplicates: int
    rejected: list[RejectedRow]
    alerts_raised: int
    alerts_resolved: int


class KeyPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[KeyView]
    next_cursor: str | None


class KeyView(msgspec.Struct, kw_only=True, omit_defaults=True):
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class LatestReadings(msgspec.Struct, kw_only=True, omit_defaults=True):
    device_id: str
    items: list[LatestValue]


class LatestValue(msgspec.Struct, kw_only=True, omit_defaults=True):
    metric: str
    time: datetime
    value: float


class MetricBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    unit: str


class MetricItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    units: list[str]
    devices: int


class MetricPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[MetricItem]
    next_cursor: str | None


class NewKey(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    scopes: list[Literal["read", "write", "ingest", "admin"]]


class OwnerBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    subject_id: str
    name: str | None = None
    email: str | None = None


class OwnerView(msgspec.Struct, kw_only=True, omit_defaults=True):
    subject_id: str
    name: str | None
    email: str | None
    erased: bool


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    errors: list[Any] | None = None


class ProjectionPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[ProjectionView]
    next_cursor: Any


class ProjectionView(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    position: int
    lag_events: int
    lag_seconds: float
    state: str
    generation: int
    leader: str | None
    heartbeat_at: datetime | None
    rebuild_position: int | None


class ReadingsPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    device_id: str
    metric: str
    bucket: str | None
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class RebuildAccepted(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    state: str


class RegisterDeviceBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    site: str
    kind: str
    metrics: list[MetricBody]
    device_id: str | None = None
    owner: OwnerBody | None = None
    address: str | None = None


class RegisterDevicesBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    devices: list[RegisterDeviceBody]


class RejectedRow(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    reason: str
    detail: str


class ResolveBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    by: str | None = None
    note: str | None = None


class ServerSentEventRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    data: str | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class SiteItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    site: str
    devices: int
    active: int


class SitePage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[SiteItem]
    next_cursor: str | None


class SiteSummaryView(msgspec.Struct, kw_only=True, omit_defaults=True):
    site: str
    devices: int
    active: int
    open_alerts: dict[str, int]
    readings_last_hour: int


class StorageView(msgspec.Struct, kw_only=True, omit_defaults=True):
    engine: str
    compression: str
    days_compressed: int
    bytes_per_reading: dict[str, float]
    packed_table_bytes: int
    days: list[DayView]


class SubjectForgottenView(msgspec.Struct, kw_only=True, omit_defaults=True):
    subject_id: str
    key_destroyed: bool
    position: int


class ThresholdBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    severity: Literal["info", "warning", "critical"]
    min: float | None = None
    max: float | None = None


class ThresholdView(msgspec.Struct, kw_only=True, omit_defaults=True):
    metric: str
    min: float | None
    max: float | None
    severity: str


class TransitionCounts(msgspec.Struct, kw_only=True, omit_defaults=True):
    time: datetime
    total: int
    raised: int
    acknowledged: int
    resolved: int
    auto_resolved: int


class UpdateDeviceBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str | None = None
    site: str | None = None
    owner: OwnerBody | None = None
    address: str | None = None
