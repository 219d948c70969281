"""Property tests: replaying stored events rebuilds the same state; snapshots change nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensorhub.application import alerts, devices
from sensorhub.application.unit_of_work import UnitOfWork
from sensorhub.domain.aggregate import Aggregate
from sensorhub.domain.alert import Alert
from sensorhub.domain.alert_commands import AcknowledgeAlert, AutoResolveAlert, ResolveAlert
from sensorhub.domain.device import Device
from sensorhub.domain.device_commands import ClearThreshold, DecommissionDevice, SetThreshold, UpdateDevice
from sensorhub.domain.device_events import DeviceRenamed
from sensorhub.domain.errors import DomainError
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.memory import InMemoryEventStore

from tests.unit.domain.factories import T0, raise_cmd, register

REGISTRY = build_registry()
bound = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))
metric = st.sampled_from(["temperature", "humidity", "pressure"])  # pressure is unknown
severity = st.sampled_from(["info", "warning", "critical", "fatal"])
text = st.text(alphabet="abc xyz", min_size=0, max_size=8)
version = st.one_of(st.none(), st.integers(0, 3))

device_commands = st.one_of(
    st.builds(UpdateDevice, st.just("dev-1"), st.one_of(st.none(), text), st.one_of(st.none(), text)),
    st.builds(SetThreshold, st.just("dev-1"), metric, bound, bound, severity),
    st.builds(ClearThreshold, st.just("dev-1"), metric),
    st.builds(DecommissionDevice, st.just("dev-1")),
)
minutes = st.integers(-5, 60).map(lambda m: T0 + timedelta(minutes=m))
alert_commands = st.one_of(
    st.builds(AcknowledgeAlert, st.just("al-1"), text, st.one_of(st.none(), text), minutes),
    st.builds(ResolveAlert, st.just("al-1"), st.one_of(st.none(), text), st.one_of(st.none(), text), minutes),
    st.builds(AutoResolveAlert, st.just("al-1"), st.floats(-100, 100), minutes),
)


def _apply(aggregate: Aggregate[Any], cmd: object) -> None:
    actions: dict[type, Any] = {
        UpdateDevice: "update",
        SetThreshold: "set_threshold",
        ClearThreshold: "clear_threshold",
        DecommissionDevice: "decommission",
        AcknowledgeAlert: "acknowledge",
        ResolveAlert: "resolve",
        AutoResolveAlert: "auto_resolve",
    }
    with contextlib.suppress(DomainError):  # a refused command records nothing
        getattr(aggregate, actions[type(cmd)])(cmd)


def _replayed(kind: type[Aggregate[Any]], aggregate: Aggregate[Any]) -> Any:
    """Fold the events after a round trip through the stored form (name, version, JSON payload)."""
    state = None
    for event in aggregate.pending:
        name, schema_version, data = REGISTRY.encode(event)
        state = kind.evolve(state, REGISTRY.decode(name, schema_version, data))
    return state


@given(st.lists(device_commands, max_size=25))
def test_a_device_replayed_from_stored_events_has_the_same_state(commands: list[object]) -> None:
    device = Device.register(register())
    for cmd in commands:
        _apply(device, cmd)
    assert _replayed(Device, device) == device.state


@given(st.lists(alert_commands, max_size=10))
def test_an_alert_replayed_from_stored_events_has_the_same_state(commands: list[object]) -> None:
    alert = Alert.raise_(raise_cmd())
    for cmd in commands:
        _apply(alert, cmd)
    assert _replayed(Alert, alert) == alert.state


def _json_replayed(kind: type[Aggregate[Any]], aggregate: Aggregate[Any], split: int) -> Any:
    """The load path: payloads as JSON text through ``decode_json``, folded by ``evolve_all`` in two
    batches (a snapshot's state, then the events after it)."""
    events = []
    for event in aggregate.pending:
        name, schema_version, data = REGISTRY.encode(event)
        events.append(REGISTRY.decode_json(name, schema_version, json.dumps(data)))
    return kind.evolve_all(kind.evolve_all(None, events[:split]), events[split:])


@given(st.lists(device_commands, max_size=25), st.integers(0, 30))
def test_a_device_folded_in_batches_from_json_has_the_same_state(commands: list[object], split: int) -> None:
    device = Device.register(register())
    for cmd in commands:
        _apply(device, cmd)
    assert _json_replayed(Device, device, split) == device.state


@given(st.lists(alert_commands, max_size=10), st.integers(0, 12))
def test_an_alert_folded_in_batches_from_json_has_the_same_state(commands: list[object], split: int) -> None:
    alert = Alert.raise_(raise_cmd())
    for cmd in commands:
        _apply(alert, cmd)
    assert _json_replayed(Alert, alert, split) == alert.state


def test_a_batch_fold_still_refuses_events_before_the_first() -> None:
    renamed = DeviceRenamed("dev-1", "n")
    with pytest.raises(ValueError, match="before DeviceRegistered"):
        Device.evolve_all(None, [renamed])
    assert Device.evolve_all(None, []) is None


DEVICE_HANDLERS: dict[type, Any] = {
    UpdateDevice: devices.update_device,
    SetThreshold: devices.set_threshold,
    ClearThreshold: devices.clear_threshold,
    DecommissionDevice: devices.decommission_device,
}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(device_commands, max_size=20), st.integers(1, 5), st.lists(alert_commands, max_size=6))
def test_loading_with_snapshots_equals_loading_without(
    device_cmds: list[object], every: int, alert_cmds: list[object]
) -> None:
    asyncio.run(_snapshot_roundtrip(device_cmds, every, alert_cmds))


async def _snapshot_roundtrip(device_cmds: list[object], every: int, alert_cmds: list[object]) -> None:
    store = InMemoryEventStore()
    policy = {"Device": every, "Alert": every}

    def uow(snapshot_every: dict[str, int] | None = None) -> UnitOfWork:
        return UnitOfWork(store, REGISTRY, snapshot_every=snapshot_every)

    await devices.register_device(register(), uow(policy))
    await alerts.raise_alert(raise_cmd(), uow(policy))
    for cmd in device_cmds:
        with contextlib.suppress(DomainError):
            await DEVICE_HANDLERS[type(cmd)](cmd, uow(policy))
    for cmd in alert_cmds:
        handler = {
            AcknowledgeAlert: alerts.acknowledge_alert,
            ResolveAlert: alerts.resolve_alert,
            AutoResolveAlert: alerts.auto_resolve_alert,
        }[type(cmd)]
        with contextlib.suppress(DomainError):
            await handler(cmd, uow(policy))  # type: ignore[operator]
    for repo_name in ("devices", "alerts"):
        with_snapshots = await getattr(uow(policy), repo_name).get("dev-1" if repo_name == "devices" else "al-1")
        without = await getattr(uow(), repo_name).get("dev-1" if repo_name == "devices" else "al-1")
        assert with_snapshots.state == without.state
        assert with_snapshots.version == without.version
        assert with_snapshots.position == without.position
        if without.version >= every:
            assert await store.load_snapshot(without.id, without.SNAPSHOT_VERSION) is not None
