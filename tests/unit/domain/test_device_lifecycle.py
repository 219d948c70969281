"""Reactivating a decommissioned device and deleting (forgetting) a device, in the aggregate."""

from __future__ import annotations

import pytest
from sensorhub.domain import device_events as ev
from sensorhub.domain.device import Device, name_holders, name_tag
from sensorhub.domain.device_commands import DecommissionDevice, DeleteDevice, ReactivateDevice, UpdateDevice
from sensorhub.domain.errors import DeviceGone, DeviceNotDecommissioned

from tests.unit.domain.factories import register


def test_a_decommissioned_device_is_reactivated_and_accepts_commands_again() -> None:
    device = Device.register(register())
    device.decommission(DecommissionDevice(device.id))
    device.reactivate(ReactivateDevice(device.id))
    assert isinstance(device.pending[-1], ev.DeviceReactivated)
    assert device.state.status == "active"
    device.update(UpdateDevice(device.id, name="again"))
    assert device.state.name == "again"


def test_only_a_decommissioned_device_can_be_reactivated() -> None:
    device = Device.register(register())
    with pytest.raises(DeviceNotDecommissioned, match="only a decommissioned device"):
        device.reactivate(ReactivateDevice(device.id))


@pytest.mark.parametrize("decommissioned", [False, True])
def test_a_deleted_device_is_gone_for_every_command(decommissioned: bool) -> None:
    device = Device.register(register())
    if decommissioned:
        device.decommission(DecommissionDevice(device.id))
    device.delete(DeleteDevice(device.id))
    assert device.state.status == "deleted"
    for command in (
        lambda: device.update(UpdateDevice(device.id, name="x")),
        lambda: device.reactivate(ReactivateDevice(device.id)),
        lambda: device.delete(DeleteDevice(device.id)),
        lambda: device.decommission(DecommissionDevice(device.id)),
    ):
        with pytest.raises(DeviceGone, match="was deleted"):
            command()


def test_reactivation_claims_the_name_again_and_deletion_frees_it() -> None:
    device = Device.register(register())
    state = device.state
    tag = name_tag(state.site, state.name)
    device.decommission(DecommissionDevice(device.id))
    device.reactivate(ReactivateDevice(device.id))
    device.delete(DeleteDevice(device.id))
    assert all(tag in tags for tags in device.pending_tags)
    events = [(device.id, e) for e in device.pending]
    assert name_holders(state.site, state.name, events[:2]) == set()
    assert name_holders(state.site, state.name, events[:3]) == {device.id}
    assert name_holders(state.site, state.name, events) == set()


def test_the_new_events_replay_to_the_same_state() -> None:
    device = Device.register(register())
    device.decommission(DecommissionDevice(device.id))
    device.reactivate(ReactivateDevice(device.id))
    assert Device.evolve_all(None, device.pending) == device.state
    device.delete(DeleteDevice(device.id))
    assert Device.evolve_all(None, device.pending) == device.state
