"""Every stored event type of sensorhub, by name and schema version, with its upcasters.

To add an event type: define the dataclass in ``sensorhub.domain``, register it
below under a stable name. To change a stored shape: bump ``schema_version``,
add an upcaster from the previous version, and a test that reads a raw old row.
"""

from __future__ import annotations

from sensorhub.domain import alert_events, device_events, personal_data
from sensorhub.eventstore.codec import EventTypeRegistry, Payload


def threshold_set_v1_to_v2(data: Payload) -> Payload:
    """v1 ``{limit, direction: "above"|"below"}`` → v2 ``{min, max, severity}``.

    "above" alerted when a reading exceeded ``limit``: that is ``max``; "below" is ``min``.
    v1 had no severity; v1 thresholds were treated as warnings.
    """
    upgraded = {k: v for k, v in data.items() if k not in ("limit", "direction")}
    direction = data["direction"]
    if direction not in ("above", "below"):
        raise ValueError(f"ThresholdSet v1 direction must be 'above' or 'below', got {direction!r}")
    upgraded["min"] = data["limit"] if direction == "below" else None
    upgraded["max"] = data["limit"] if direction == "above" else None
    upgraded["severity"] = "warning"
    return upgraded


def build_registry() -> EventTypeRegistry:
    registry = EventTypeRegistry()
    registry.register(device_events.DeviceRegistered)
    registry.register(device_events.DeviceRenamed)
    registry.register(device_events.DeviceMoved)
    registry.register(device_events.ThresholdSet, schema_version=2, upcasters={1: threshold_set_v1_to_v2})
    registry.register(device_events.ThresholdCleared)
    registry.register(device_events.DeviceDecommissioned)
    registry.register(device_events.DeviceOwnerChanged)
    registry.register(personal_data.SubjectForgotten)
    registry.register(device_events.DeviceReactivated)
    registry.register(device_events.DeviceDeleted)
    registry.register(alert_events.AlertRaised)
    registry.register(alert_events.AlertAcknowledged)
    registry.register(alert_events.AlertResolved)
    registry.register(alert_events.AlertAutoResolved)
    return registry
