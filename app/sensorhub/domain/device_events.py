"""Facts about a device. Their names and shapes are stored: evolve them with a new schema version
and an upcaster (see ``sensorhub.eventstore.event_types``), never by editing a field in place."""

from __future__ import annotations

from dataclasses import dataclass

from sensorhub.domain.aggregate import Event
from sensorhub.domain.personal_data import Owner
from sensorhub.domain.values import Metric, Severity


@dataclass(frozen=True)
class DeviceRegistered(Event):
    device_id: str
    name: str
    site: str
    kind: str
    metrics: tuple[Metric, ...]
    # Personal data (optional, added without a schema bump: older payloads decode with None).
    owner: Owner | None = None
    address: str | None = None


@dataclass(frozen=True)
class DeviceRenamed(Event):
    device_id: str
    name: str


@dataclass(frozen=True)
class DeviceMoved(Event):
    device_id: str
    site: str


@dataclass(frozen=True)
class ThresholdSet(Event):
    """Schema version 2: ``{min, max, severity}`` (version 1 was ``{limit, direction}``)."""

    device_id: str
    metric: str
    min: float | None
    max: float | None
    severity: Severity


@dataclass(frozen=True)
class ThresholdCleared(Event):
    device_id: str
    metric: str


@dataclass(frozen=True)
class DeviceDecommissioned(Event):
    device_id: str


@dataclass(frozen=True)
class DeviceOwnerChanged(Event):
    """The device's owner and/or address after the change (both personal data, sealed when stored)."""

    device_id: str
    owner: Owner
    address: str | None


@dataclass(frozen=True)
class DeviceReactivated(Event):
    """A decommissioned device back in service: it claims its name at its site again."""

    device_id: str


@dataclass(frozen=True)
class DeviceDeleted(Event):
    """The device is forgotten: gone from every read, its name free at its site, its readings purged."""

    device_id: str
