from __future__ import annotations

import math

import pytest
from sensorhub.domain import device_events as ev
from sensorhub.domain.device import Device
from sensorhub.domain.device_commands import (
    ClearThreshold,
    DecommissionDevice,
    RegisterDevice,
    SetThreshold,
    UpdateDevice,
)
from sensorhub.domain.errors import DeviceDecommissioned, InvalidCommand, InvalidThreshold, UnknownMetric
from sensorhub.domain.values import Metric

from tests.unit.domain.factories import register


def test_register_records_one_event_and_builds_state() -> None:
    device = Device.register(register())
    assert [type(e) for e in device.pending] == [ev.DeviceRegistered]
    assert device.state.status == "active"
    assert [m.name for m in device.state.metrics] == ["temperature", "humidity"]
    assert device.next_version == 1


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (RegisterDevice("", "n", "s", "k", (Metric("t", "C"),)), "device_id"),
        (RegisterDevice("d", "n", "s", "k", ()), "at least one metric"),
        (RegisterDevice("d", "n", "s", "k", (Metric("t", "C"), Metric("t", "F"))), "unique"),
        (RegisterDevice("d", "n", "s", "k", (Metric("Bad Name", "C"),)), "lower_snake_case"),
        (RegisterDevice("d", " ", "s", "k", (Metric("t", "C"),)), "`name` must not be empty"),
    ],
)
def test_register_rejects_bad_input(cmd: RegisterDevice, message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        Device.register(cmd)


def test_update_records_only_what_changed() -> None:
    device = Device.register(register())
    device.update(UpdateDevice("dev-1", name="Boiler room", site="site-b"))
    assert [type(e) for e in device.pending] == [ev.DeviceRegistered, ev.DeviceMoved]
    assert device.state.site == "site-b"


def test_thresholds_are_set_replaced_and_cleared() -> None:
    device = Device.register(register())
    device.set_threshold(SetThreshold("dev-1", "temperature", None, 90.0, "critical"))
    device.set_threshold(SetThreshold("dev-1", "temperature", 10.0, 80.0, "warning"))
    device.set_threshold(SetThreshold("dev-1", "temperature", 10.0, 80.0, "warning"))  # unchanged: no event
    threshold = device.state.threshold("temperature")
    assert threshold is not None
    assert (threshold.min, threshold.max, threshold.severity) == (10.0, 80.0, "warning")
    device.clear_threshold(ClearThreshold("dev-1", "temperature"))
    device.clear_threshold(ClearThreshold("dev-1", "temperature"))  # already clear: no event
    assert device.state.thresholds == ()
    assert len(device.pending) == 4


@pytest.mark.parametrize(
    ("lo", "hi", "error", "message"),
    [
        (None, None, InvalidThreshold, "at least one bound"),
        (5.0, 5.0, InvalidThreshold, "less than"),
        (6.0, 5.0, InvalidThreshold, "less than"),
        (math.nan, None, InvalidThreshold, "finite"),
    ],
)
def test_invalid_thresholds_are_rejected(lo: float | None, hi: float | None, error: type, message: str) -> None:
    device = Device.register(register())
    with pytest.raises(error, match=message):
        device.set_threshold(SetThreshold("dev-1", "temperature", lo, hi, "info"))


def test_unknown_metric_and_severity_are_rejected() -> None:
    device = Device.register(register())
    with pytest.raises(UnknownMetric, match="its metrics are: temperature, humidity"):
        device.set_threshold(SetThreshold("dev-1", "pressure", 1.0, None, "info"))
    with pytest.raises(InvalidCommand, match="severity"):
        device.set_threshold(SetThreshold("dev-1", "temperature", 1.0, None, "fatal"))


def test_a_decommissioned_device_refuses_every_command() -> None:
    device = Device.register(register())
    device.decommission(DecommissionDevice("dev-1"))
    assert device.state.status == "decommissioned"
    for act in (
        lambda: device.update(UpdateDevice("dev-1", name="x")),
        lambda: device.set_threshold(SetThreshold("dev-1", "temperature", 1.0, None, "info")),
        lambda: device.clear_threshold(ClearThreshold("dev-1", "temperature")),
        lambda: device.decommission(DecommissionDevice("dev-1")),
    ):
        with pytest.raises(DeviceDecommissioned):
            act()
