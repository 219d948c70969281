"""Wire shapes of devices, alerts and stored events (msgspec structs; unknown body fields → 422), and
the one mapper to each from its sources: aggregate state (event store) or a read-model row."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from sensorhub.application.stored_events import RecordedEvent
from sensorhub.domain.alert import AlertState
from sensorhub.domain.device import DeviceState
from sensorhub.domain.personal_data import Owner

# What the domain accepts, stated on the wire so the OpenAPI document and msgspec enforce the same:
# text is 1-200 characters with something besides spaces and no NUL (the domain trims it).
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern="^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")]
Note = Annotated[str, msgspec.Meta(max_length=2000, pattern="^[^\\u0000]*$")]
DeviceId = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
MetricName = Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9_]{0,63}$")]
SubjectId = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")]
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, pattern="^[^@\\s\\u0000]{1,64}@[^@\\s\\u0000]{1,253}$")
]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern="^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")]
Severity = Literal["info", "warning", "critical"]
# What each pattern above means, for validation errors (``field_errors``).
PATTERN_MEANINGS = {
    "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$": "must contain a character other than spaces, and no NUL (\\u0000)",
    "^[^\\u0000]*$": "must not contain NUL (\\u0000)",
    "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$": "must be 1-128 characters of letters, digits and . _ : - (not first)",
    "^[a-z][a-z0-9_]{0,63}$": "must be lower_snake_case (a-z, 0-9, _), starting with a letter, at most 64 characters",
    "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$": "must be 1-128 characters of letters, digits and . _ : @ - (not first)",
    "^[^@\\s\\u0000]{1,64}@[^@\\s\\u0000]{1,253}$": "must be an email address (local@domain, no spaces)",
}


class MetricBody(msgspec.Struct, forbid_unknown_fields=True):
    name: MetricName
    unit: Annotated[str, msgspec.Meta(max_length=200, pattern="^[^\\u0000]*$")]


class OwnerBody(msgspec.Struct, forbid_unknown_fields=True):
    """The device's owner: personal data (name, email), sealed with the subject's key when stored."""

    subject_id: SubjectId
    name: Text | None = None
    email: Email | None = None


class RegisterDeviceBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Text
    site: Text
    kind: Text
    metrics: Annotated[list[MetricBody], msgspec.Meta(min_length=1, max_length=100)]
    device_id: DeviceId | None = None
    owner: OwnerBody | None = None
    address: Address | None = None  # the owner's: needs an owner


class RegisterDevicesBody(msgspec.Struct, forbid_unknown_fields=True):
    devices: Annotated[list[RegisterDeviceBody], msgspec.Meta(min_length=1, max_length=1000)]


class UpdateDeviceBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Text | None = None
    site: Text | None = None
    owner: OwnerBody | None = None  # replaces the owner (and its address, unless one is given)
    address: Address | None = None  # the (new or current) owner's


class ThresholdBody(msgspec.Struct, forbid_unknown_fields=True):
    severity: Severity
    min: float | None = None
    max: float | None = None


class AcknowledgeBody(msgspec.Struct, forbid_unknown_fields=True):
    by: Text
    note: Note | None = None


class ResolveBody(msgspec.Struct, forbid_unknown_fields=True):
    by: Text | None = None
    note: Note | None = None


class NewKey(msgspec.Struct, forbid_unknown_fields=True):
    name: Text
    scopes: Annotated[list[Literal["read", "write", "ingest", "admin"]], msgspec.Meta(min_length=1, max_length=4)]


# One example per request body (the OpenAPI document shows them; a test keeps them valid).
EXAMPLES: dict[type, dict[str, Any]] = {
    RegisterDeviceBody: {
        "device_id": "boiler-1",
        "name": "Boiler room",
        "site": "plant-a",
        "kind": "thermometer",
        "metrics": [{"name": "temperature", "unit": "C"}, {"name": "humidity", "unit": "%"}],
    },
    UpdateDeviceBody: {
        "name": "Boiler room (east)",
        "site": "plant-b",
        "owner": {"subject_id": "customer-4711", "name": "Ada Lovelace", "email": "ada@example.com"},
        "address": "12 St James's Square, London",
    },
    RegisterDevicesBody: {
        "devices": [
            {
                "device_id": "boiler-2",
                "name": "Boiler 2",
                "site": "plant-a",
                "kind": "thermometer",
                "metrics": [{"name": "temperature", "unit": "C"}],
            },
            {
                "device_id": "boiler-3",
                "name": "Boiler 3",
                "site": "plant-a",
                "kind": "thermometer",
                "metrics": [{"name": "temperature", "unit": "C"}],
            },
        ]
    },
    ThresholdBody: {"min": 5.0, "max": 80.0, "severity": "warning"},
    AcknowledgeBody: {"by": "alice", "note": "on my way"},
    ResolveBody: {"by": "alice", "note": "valve replaced"},
    NewKey: {"name": "dashboard", "scopes": ["read"]},
}


class ThresholdView(msgspec.Struct):
    metric: str
    min: float | None
    max: float | None
    severity: str


class OwnerView(msgspec.Struct):
    """``erased``: the subject was forgotten; ``name``, ``email`` (and the device's ``address``) are null."""

    subject_id: str
    name: str | None
    email: str | None
    erased: bool


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
    owner: OwnerView | None = None  # personal data (docs/personal-data.md)
    address: str | None = None


class SubjectForgottenView(msgspec.Struct):
    subject_id: str
    key_destroyed: bool  # false: no key was held (never seen, or forgotten before): nothing left to erase
    position: int  # of the SubjectForgotten event: send it as `X-Min-Position` to read the erasure


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
    archived: bool = False  # its events were moved to the archive (read from there; closed to commands)


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
        owner=_owner_view(state.owner),
        address=state.address,
    )


def owner_of(body: OwnerBody | None) -> Owner | None:
    return None if body is None else Owner(body.subject_id, body.name, body.email)


def _owner_view(owner: Owner | Mapping[str, Any] | None) -> OwnerView | None:
    if owner is None:
        return None
    if isinstance(owner, Owner):
        return OwnerView(owner.subject_id, owner.name, owner.email, owner.erased)
    return OwnerView(owner["subject_id"], owner.get("name"), owner.get("email"), bool(owner.get("erased")))


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
        owner=_owner_view(row.get("owner")),
        address=row.get("address"),
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
        archived=bool(row.get("archived", False)),
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
