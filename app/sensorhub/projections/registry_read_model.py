"""The ``registry`` projection: devices (with thresholds and open alert count) and alerts.

One projection on purpose: a device's open alert count and an alert's site need both
streams, and keeping them in one projection makes them consistent with each other and
rebuilt together. A batch is folded in memory: load the rows it touches, apply every
event, write each changed row once — and only what changed where that is cheaper to know
than to rewrite: a device that only alert events touched has just its open alert count
read and written; an alert raised earlier has just its lifecycle columns written; an alert
raised in the batch is not looked up at all (its raise defines the whole row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sensorhub.application.stored_events import RecordedEvent
from sensorhub.db import Conn
from sensorhub.eventstore.personal_data import erased
from sensorhub.projections.model import Effects, payload_time, table, update, upsert

DEVICE_COLUMNS = (
    ("device_id", "text"),
    ("name", "text"),
    ("site", "text"),
    ("kind", "text"),
    ("status", "text"),
    ("metrics", "jsonb"),
    ("thresholds", "jsonb"),
    ("open_alerts", "int4"),
    ("version", "int8"),
    ("position", "int8"),
    ("registered_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("owner", "jsonb"),
    ("address", "text"),
)
ALERT_COLUMNS = (
    ("alert_id", "text"),
    ("device_id", "text"),
    ("metric", "text"),
    ("severity", "text"),
    ("status", "text"),
    ("raised_at", "timestamptz"),
    ("trigger_value", "float8"),
    ("threshold", "jsonb"),
    ("acknowledged_by", "text"),
    ("acknowledged_at", "timestamptz"),
    ("resolved_by", "text"),
    ("resolved_at", "timestamptz"),
    ("resolution", "text"),
    ("note", "text"),
    ("version", "int8"),
    ("position", "int8"),
    ("updated_at", "timestamptz"),
)
DEVICE_COUNT_COLUMNS = (("device_id", "text"), ("open_alerts", "int4"))
# What an alert's later events change (never its subject, raise time, trigger or threshold).
_ALERT_SUBJECT = frozenset({"device_id", "metric", "severity", "raised_at", "trigger_value", "threshold"})
ALERT_LIFECYCLE_COLUMNS = tuple(c for c in ALERT_COLUMNS if c[0] not in _ALERT_SUBJECT)
DEVICE_EVENTS = frozenset(
    {
        "DeviceRegistered",
        "DeviceRenamed",
        "DeviceMoved",
        "ThresholdSet",
        "ThresholdCleared",
        "DeviceDecommissioned",
        "DeviceOwnerChanged",
        "DeviceReactivated",
        "DeviceDeleted",
    }
)
SUBJECT_FORGOTTEN = "SubjectForgotten"
ALERT_EVENTS = frozenset({"AlertRaised", "AlertAcknowledged", "AlertResolved", "AlertAutoResolved"})

Row = dict[str, Any]


class RegistryProjection:
    name = "registry"

    async def apply(
        self, conn: Conn, generation: int, events: Sequence[RecordedEvent], effects: Effects | None
    ) -> None:
        devices_table, alerts_table = table("rm_devices", generation), table("rm_alerts", generation)
        alerts = await _load(conn, alerts_table, "alert_id", "*", _alerts_to_load(events))
        full_ids = {e.data["device_id"] for e in events if e.type in DEVICE_EVENTS}
        counted_ids = {e.data["device_id"] for e in events if e.type == "AlertRaised"}
        counted_ids |= {a["device_id"] for a in alerts.values()}
        devices = await _load(conn, devices_table, "device_id", "*", full_ids)
        # Devices that only alert events touch need nothing but their open alert count.
        devices |= await _load(conn, devices_table, "device_id", "device_id, open_alerts", counted_ids - full_ids)
        forgotten = {e.data["subject_id"] for e in events if e.type == SUBJECT_FORGOTTEN}
        if forgotten and effects is not None:
            effects.purge_cache = True
        devices |= await _owned_by(conn, devices_table, forgotten)
        fold = _Fold(devices, alerts)
        for event in events:
            if event.type in DEVICE_EVENTS:
                fold.device_event(event)
            elif event.type == SUBJECT_FORGOTTEN:
                fold.subject_forgotten(event.data["subject_id"])
            elif event.type in ALERT_EVENTS:
                alert = fold.alert_event(event)
                if effects is not None and alert is not None:
                    effects.alert_changes.append(alert_change(event, alert))
        await upsert(conn, devices_table, "device_id", DEVICE_COLUMNS, [devices[k] for k in fold.changed_devices])
        counts = [devices[k] for k in fold.counted_devices - fold.changed_devices]
        await update(conn, devices_table, "device_id", DEVICE_COUNT_COLUMNS, counts)
        await upsert(conn, alerts_table, "alert_id", ALERT_COLUMNS, [alerts[k] for k in fold.raised_alerts])
        moved = [alerts[k] for k in fold.changed_alerts - fold.raised_alerts]
        await update(conn, alerts_table, "alert_id", ALERT_LIFECYCLE_COLUMNS, moved)
        if fold.deleted_devices:  # a deleted device leaves the read model, with its alerts
            gone = sorted(fold.deleted_devices)
            await conn.execute(f"DELETE FROM {devices_table} WHERE device_id = ANY($1::text[])", gone)
            await conn.execute(f"DELETE FROM {alerts_table} WHERE device_id = ANY($1::text[])", gone)


def _alerts_to_load(events: Sequence[RecordedEvent]) -> set[str]:
    """Alerts the batch changes but does not raise first: an ``AlertRaised`` replaces the whole row."""
    raised: set[str] = set()
    wanted: set[str] = set()
    for e in events:
        if e.type == "AlertRaised":
            raised.add(e.data["alert_id"])
        elif e.type in ALERT_EVENTS and e.data["alert_id"] not in raised:
            wanted.add(e.data["alert_id"])
    return wanted


async def _owned_by(conn: Conn, relation: str, subject_ids: set[str]) -> dict[str, Row]:
    """The whole rows of the devices ``subject_ids`` own (as stored before the batch)."""
    if not subject_ids:
        return {}
    rows = await conn.fetch(f"SELECT * FROM {relation} WHERE owner->>'subject_id' = ANY($1::text[])", list(subject_ids))
    return {r["device_id"]: dict(r) for r in rows}


async def _load(conn: Conn, relation: str, key: str, columns: str, ids: set[str]) -> dict[str, Row]:
    if not ids:
        return {}
    rows = await conn.fetch(f"SELECT {columns} FROM {relation} WHERE {key} = ANY($1::text[])", list(ids))
    return {r[key]: dict(r) for r in rows}


class _Fold:
    def __init__(self, devices: dict[str, Row], alerts: dict[str, Row]) -> None:
        self.devices = devices
        self.alerts = alerts
        # What to write: whole device rows, or just the open alert count; alerts raised in the
        # batch (whole rows) or moved along their lifecycle (``ALERT_LIFECYCLE_COLUMNS``).
        self.changed_devices: set[str] = set()
        self.counted_devices: set[str] = set()
        self.raised_alerts: set[str] = set()
        self.changed_alerts: set[str] = set()
        self.deleted_devices: set[str] = set()

    def device_event(self, event: RecordedEvent) -> None:
        data, device_id = event.data, event.data["device_id"]
        if event.type == "DeviceRegistered":
            self.devices[device_id] = {
                "device_id": device_id,
                "name": data["name"],
                "site": data["site"],
                "kind": data["kind"],
                "status": "active",
                "metrics": [{"name": m["name"], "unit": m["unit"]} for m in data["metrics"]],
                "thresholds": {},
                "open_alerts": self.devices.get(device_id, {}).get("open_alerts", 0),
                "registered_at": event.recorded_at,
                "owner": data.get("owner"),
                "address": data.get("address"),
            }
        device = self.devices.get(device_id)
        if device is None:  # an event before its registration cannot happen; never invent a row
            return
        match event.type:
            case "DeviceRenamed":
                device["name"] = data["name"]
            case "DeviceMoved":
                device["site"] = data["site"]
            case "ThresholdSet":
                bounds = {"min": data["min"], "max": data["max"], "severity": data["severity"]}
                device["thresholds"] = {**device["thresholds"], data["metric"]: bounds}
            case "ThresholdCleared":
                device["thresholds"] = {k: v for k, v in device["thresholds"].items() if k != data["metric"]}
            case "DeviceDecommissioned":
                device["status"] = "decommissioned"
            case "DeviceOwnerChanged":
                device.update(owner=data["owner"], address=data.get("address"))
            case "DeviceReactivated":
                device["status"] = "active"
            case "DeviceDeleted":
                self.deleted_devices.add(device_id)
            case _:
                pass
        device.update(version=event.stream_version, position=event.position, updated_at=event.recorded_at)
        self.changed_devices.add(device_id)

    def subject_forgotten(self, subject_id: str) -> None:
        """Erase the subject's personal data from every device it owns (rows already erased on read
        stay so; this covers rows written before the forget)."""
        for device_id, device in self.devices.items():
            owner = device.get("owner")
            if isinstance(owner, dict) and owner.get("subject_id") == subject_id and not owner.get("erased"):
                device.update(owner=erased(subject_id), address=None)
                self.changed_devices.add(device_id)

    def alert_event(self, event: RecordedEvent) -> Row | None:
        data, alert_id = event.data, event.data["alert_id"]
        if event.type == "AlertRaised":
            alert: Row | None = {
                "alert_id": alert_id,
                "device_id": data["device_id"],
                "metric": data["metric"],
                "severity": data["severity"],
                "status": "open",
                "raised_at": payload_time(data["raised_at"]),
                "trigger_value": float(data["trigger_value"]),
                "threshold": {"min": data["threshold"].get("min"), "max": data["threshold"].get("max")},
                "acknowledged_by": None,
                "acknowledged_at": None,
                "resolved_by": None,
                "resolved_at": None,
                "resolution": None,
                "note": None,
            }
            self.alerts[alert_id] = alert  # type: ignore[assignment]
            self.raised_alerts.add(alert_id)
            self._count_open(data["device_id"], +1)
        alert = self.alerts.get(alert_id)
        if alert is None:
            return None
        was_open = alert["status"] != "resolved"
        match event.type:
            case "AlertAcknowledged":
                alert.update(
                    status="acknowledged",
                    acknowledged_by=data["by"],
                    acknowledged_at=payload_time(data["acknowledged_at"]),
                    note=data.get("note"),
                )
            case "AlertResolved":
                note = data.get("note")
                alert.update(
                    status="resolved",
                    resolved_by=data.get("by"),
                    resolved_at=payload_time(data["resolved_at"]),
                    resolution="manual",
                    note=note if note is not None else alert["note"],
                )
            case "AlertAutoResolved":
                alert.update(status="resolved", resolved_at=payload_time(data["resolved_at"]), resolution="auto")
            case _:
                pass
        if was_open and alert["status"] == "resolved":
            self._count_open(alert["device_id"], -1)
        alert.update(version=event.stream_version, position=event.position, updated_at=event.recorded_at)
        self.changed_alerts.add(alert_id)
        return alert

    def _count_open(self, device_id: str, delta: int) -> None:
        device = self.devices.get(device_id)
        if device is not None:
            device["open_alerts"] = max(0, device["open_alerts"] + delta)
            self.counted_devices.add(device_id)


def alert_change(event: RecordedEvent, alert: Row) -> dict[str, Any]:
    """What ``GET /v1/alerts/stream`` sends for one alert event (JSON-ready)."""
    view = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in alert.items() if k != "updated_at"}
    return {"type": event.type, "position": event.position, "alert": view}
