"""The Device aggregate: a registered sensor with its metrics and per-metric thresholds."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sensorhub.domain import device_events as ev
from sensorhub.domain.aggregate import Aggregate, Event
from sensorhub.domain.device_commands import (
    ClearThreshold,
    DecommissionDevice,
    DeleteDevice,
    ReactivateDevice,
    RegisterDevice,
    SetThreshold,
    UpdateDevice,
)
from sensorhub.domain.errors import (
    DeviceDecommissioned,
    DeviceGone,
    DeviceNotDecommissioned,
    InvalidCommand,
    UnknownMetric,
)
from sensorhub.domain.personal_data import Owner, check_address, check_owner
from sensorhub.domain.values import Bounds, Metric, Severity, check_bounds, check_severity, check_text

DeviceStatus = Literal["active", "decommissioned", "deleted"]
# The events that can change which device holds a name at a site (the name is unique there).
NAME_EVENTS = (
    ev.DeviceRegistered,
    ev.DeviceRenamed,
    ev.DeviceMoved,
    ev.DeviceDecommissioned,
    ev.DeviceReactivated,
    ev.DeviceDeleted,
)
DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Threshold:
    metric: str
    min: float | None
    max: float | None
    severity: Severity

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.min, self.max)


@dataclass(frozen=True)
class DeviceState:
    device_id: str
    name: str
    site: str
    kind: str
    metrics: tuple[Metric, ...]
    thresholds: tuple[Threshold, ...] = ()  # sorted by metric
    status: DeviceStatus = "active"
    owner: Owner | None = None  # personal data: plain text, or erased (``owner.erased``)
    address: str | None = None  # the owner's; None when erased

    def threshold(self, metric: str) -> Threshold | None:
        return next((t for t in self.thresholds if t.metric == metric), None)

    def has_metric(self, metric: str) -> bool:
        return any(m.name == metric for m in self.metrics)


class Device(Aggregate[DeviceState]):
    STREAM_TYPE = "Device"
    CREATED_BY = "DeviceRegistered"
    STATE_TYPE = DeviceState
    SNAPSHOT_VERSION = 1

    @classmethod
    def register(cls, cmd: RegisterDevice) -> Device:
        if not DEVICE_ID.match(cmd.device_id):
            raise InvalidCommand(f"device_id {cmd.device_id!r} must be 1-128 characters of letters, digits and . _ : -")
        if not cmd.metrics:
            raise InvalidCommand('a device needs at least one metric, e.g. {"name": "temperature", "unit": "C"}')
        names = [m.name for m in cmd.metrics]
        for name in names:
            if not METRIC_NAME.match(name):
                raise InvalidCommand(f"metric name {name!r} must be lower_snake_case (a-z, 0-9, _), max 64")
        if len(set(names)) != len(names):
            raise InvalidCommand(f"metric names must be unique, got {names}")
        owner, address = _personal_data(cmd.owner, cmd.address, None)
        device = cls(cmd.device_id)
        device.record(
            ev.DeviceRegistered(
                device_id=cmd.device_id,
                name=check_text("name", cmd.name),
                site=check_text("site", cmd.site),
                kind=check_text("kind", cmd.kind),
                metrics=tuple(Metric(m.name, m.unit.strip()) for m in cmd.metrics),
                owner=owner,
                address=address,
            )
        )
        return device

    def update(self, cmd: UpdateDevice) -> None:
        state = self._active()
        if cmd.name is not None and (name := check_text("name", cmd.name)) != state.name:
            self.record(ev.DeviceRenamed(self.id, name))
        if cmd.site is not None and (site := check_text("site", cmd.site)) != state.site:
            self.record(ev.DeviceMoved(self.id, site))
        if cmd.owner is not None or cmd.address is not None:
            owner, address = _personal_data(cmd.owner, cmd.address, state)
            if owner is not None and (owner, address) != (state.owner, state.address):
                self.record(ev.DeviceOwnerChanged(self.id, owner, address))

    def set_threshold(self, cmd: SetThreshold) -> None:
        state = self._active()
        if not state.has_metric(cmd.metric):
            known = ", ".join(m.name for m in state.metrics)
            raise UnknownMetric(f"device {self.id} has no metric {cmd.metric!r}; its metrics are: {known}")
        bounds = check_bounds(cmd.min, cmd.max)
        severity = check_severity(cmd.severity)
        wanted = Threshold(cmd.metric, bounds.min, bounds.max, severity)
        if state.threshold(cmd.metric) != wanted:
            self.record(ev.ThresholdSet(self.id, cmd.metric, bounds.min, bounds.max, severity))

    def clear_threshold(self, cmd: ClearThreshold) -> None:
        state = self._active()
        if not state.has_metric(cmd.metric):
            raise UnknownMetric(f"device {self.id} has no metric {cmd.metric!r}")
        if state.threshold(cmd.metric) is not None:
            self.record(ev.ThresholdCleared(self.id, cmd.metric))

    def decommission(self, cmd: DecommissionDevice) -> None:
        self._active()
        self.record(ev.DeviceDecommissioned(cmd.device_id))

    def reactivate(self, cmd: ReactivateDevice) -> None:
        if self._existing().status != "decommissioned":
            raise DeviceNotDecommissioned(
                f"device {self.id} is active: only a decommissioned device can be reactivated"
            )
        self.record(ev.DeviceReactivated(cmd.device_id))

    def delete(self, cmd: DeleteDevice) -> None:
        """Forget the device, active or decommissioned."""
        self._existing()
        self.record(ev.DeviceDeleted(cmd.device_id))

    def _existing(self) -> DeviceState:
        state = self.state
        if state.status == "deleted":
            raise DeviceGone(f"no device with id {self.id!r}: it was deleted")
        return state

    def _active(self) -> DeviceState:
        state = self._existing()
        if state.status == "decommissioned":
            raise DeviceDecommissioned(f"device {self.id} is decommissioned and accepts no more commands")
        return state

    @classmethod
    def tags_of(cls, before: DeviceState | None, after: DeviceState, event: Event) -> tuple[str, ...]:
        """An event that can change who holds a name carries the tag of the name before and after it."""
        if not isinstance(event, NAME_EVENTS):
            return ()
        return tuple(dict.fromkeys(name_tag(s.site, s.name) for s in (before, after) if s is not None))

    @classmethod
    def evolve(cls, state: DeviceState | None, event: Event) -> DeviceState:
        return DeviceState(**_apply(_fields_of(state), event))

    @classmethod
    def evolve_all(cls, state: DeviceState | None, events: Iterable[Event]) -> DeviceState | None:
        """One frozen state at the end instead of one per event (a copy per event dominated long
        replays); the fold mutates a private dict of fields, so it stays a pure function."""
        fields = _fields_of(state)
        for event in events:
            fields = _apply(fields, event)
        return None if fields is None else DeviceState(**fields)


def _personal_data(
    owner: Owner | None, address: str | None, state: DeviceState | None
) -> tuple[Owner | None, str | None]:
    """The owner and address after a command: a new owner replaces the old one (and its address,
    unless one is given); an address alone is the current owner's, so it needs one that is not erased."""
    if owner is not None:
        owner = check_owner(owner)
        kept = state.address if state is not None and state.owner == owner else None
        return owner, check_address(address) if address is not None else kept
    if address is None:
        return (state.owner, state.address) if state is not None else (None, None)
    current = state.owner if state is not None else None
    if current is None or current.erased:
        which = "has no owner" if current is None else "has an erased owner"
        raise InvalidCommand(f"an address belongs to the device's owner, and this device {which}: give `owner` too")
    return current, check_address(address)


def name_tag(site: str, name: str) -> str:
    """The tag of a device name at a site (the site's length first: no two pairs share a tag).
    Migration 0008 writes the same format for events stored before tags existed."""
    return f"device-name:{len(site)}:{site}/{name}"


def name_holders(site: str, name: str, events: Iterable[tuple[str, Event]]) -> set[str]:
    """The devices holding ``name`` at ``site`` after ``events`` — (device id, event) pairs, oldest
    first, each tagged with ``name_tag(site, name)``: a claim of that name or a release of it."""
    held: set[str] = set()
    for device_id, event in events:
        match event:
            case ev.DeviceRegistered():
                held.add(device_id)
            case ev.DeviceRenamed(name=new_name) if new_name == name:
                held.add(device_id)
            case ev.DeviceMoved(site=new_site) if new_site == site:
                held.add(device_id)
            case ev.DeviceReactivated():
                held.add(device_id)
            case _:  # renamed or moved away, decommissioned, deleted
                held.discard(device_id)
    return held


_Fields = dict[str, Any]


def _fields_of(state: DeviceState | None) -> _Fields | None:
    """A private, mutable copy of the state's fields (its values are immutable and shared)."""
    return None if state is None else dict(vars(state))


def _apply(fields: _Fields | None, event: Event) -> _Fields:
    """Fold one event into ``fields`` (mutated, or replaced on registration) and return them."""
    if isinstance(event, ev.DeviceRegistered):
        registered = DeviceState(event.device_id, event.name, event.site, event.kind, event.metrics)
        return dict(vars(registered), owner=event.owner, address=event.address)
    if fields is None:
        raise ValueError(f"{type(event).__name__} before DeviceRegistered")
    match event:
        case ev.DeviceRenamed(name=name):
            fields["name"] = name
        case ev.DeviceMoved(site=site):
            fields["site"] = site
        case ev.ThresholdSet(metric=metric, min=lo, max=hi, severity=severity):
            others = [t for t in fields["thresholds"] if t.metric != metric]
            updated = [*others, Threshold(metric, lo, hi, severity)]
            fields["thresholds"] = tuple(sorted(updated, key=lambda t: t.metric))
        case ev.ThresholdCleared(metric=metric):
            fields["thresholds"] = tuple(t for t in fields["thresholds"] if t.metric != metric)
        case ev.DeviceDecommissioned():
            fields["status"] = "decommissioned"
        case ev.DeviceOwnerChanged(owner=owner, address=address):
            fields["owner"] = owner
            fields["address"] = address
        case ev.DeviceReactivated():
            fields["status"] = "active"
        case ev.DeviceDeleted():
            fields["status"] = "deleted"
        case _:
            raise TypeError(f"Device cannot apply {type(event).__name__}")
    return fields
