"""Device command handlers: plain functions ``(command, uow)``."""

from __future__ import annotations

from sensorhub.application.errors import AlreadyExists, ConcurrencyError
from sensorhub.application.results import CommandResult, result_of
from sensorhub.application.stored_events import QueryItem
from sensorhub.application.unit_of_work import UnitOfWork
from sensorhub.domain import device_events as ev
from sensorhub.domain.device import NAME_EVENTS, Device, DeviceState, name_holders, name_tag
from sensorhub.domain.device_commands import (
    ClearThreshold,
    DecommissionDevice,
    DeleteDevice,
    ReactivateDevice,
    RegisterDevice,
    SetThreshold,
    UpdateDevice,
)
from sensorhub.domain.errors import DeviceNameTaken

DeviceResult = CommandResult[DeviceState]


async def register_device(cmd: RegisterDevice, uow: UnitOfWork) -> DeviceResult:
    existing = await uow.devices.find(cmd.device_id)
    if existing is not None and existing.state.status == "deleted":
        raise AlreadyExists(f"device id {cmd.device_id!r} belonged to a deleted device; ids are never reused")
    if existing is not None:
        raise AlreadyExists(f"a device with id {cmd.device_id!r} already exists")
    device = Device.register(cmd)
    await _claim_name(device, uow)
    uow.devices.add(device)
    try:
        commit = await uow.commit()
    except ConcurrencyError:
        raise AlreadyExists(f"a device with id {cmd.device_id!r} already exists") from None
    return result_of(device, commit)


async def update_device(cmd: UpdateDevice, uow: UnitOfWork) -> DeviceResult:
    device = await uow.devices.get(cmd.device_id, cmd.expected_version)
    device.update(cmd)
    if any(isinstance(e, (ev.DeviceRenamed, ev.DeviceMoved)) for e in device.pending):
        await _claim_name(device, uow)
    return result_of(device, await uow.commit())


async def set_threshold(cmd: SetThreshold, uow: UnitOfWork) -> DeviceResult:
    device = await uow.devices.get(cmd.device_id, cmd.expected_version)
    device.set_threshold(cmd)
    return result_of(device, await uow.commit())


async def clear_threshold(cmd: ClearThreshold, uow: UnitOfWork) -> DeviceResult:
    device = await uow.devices.get(cmd.device_id, cmd.expected_version)
    device.clear_threshold(cmd)
    return result_of(device, await uow.commit())


async def decommission_device(cmd: DecommissionDevice, uow: UnitOfWork) -> DeviceResult:
    device = await uow.devices.get(cmd.device_id, cmd.expected_version)
    device.decommission(cmd)
    return result_of(device, await uow.commit())


async def reactivate_device(cmd: ReactivateDevice, uow: UnitOfWork) -> DeviceResult:
    """Back in service; its name must still be free at its site (409 names the device holding it)."""
    device = await uow.devices.get(cmd.device_id, cmd.expected_version)
    device.reactivate(cmd)
    await _claim_name(device, uow)
    return result_of(device, await uow.commit())


async def delete_device(cmd: DeleteDevice, uow: UnitOfWork) -> DeviceResult:
    device = await uow.devices.get(cmd.device_id, cmd.expected_version)
    device.delete(cmd)
    return result_of(device, await uow.commit())


_NAME_EVENT_TYPES = tuple(t.__name__ for t in NAME_EVENTS)  # registered under their class names


async def _claim_name(device: Device, uow: UnitOfWork) -> None:
    """A device name is unique within its site: decided on the events tagged with the name (any
    device's), and the commit appends only if none has been stored since (a conditional append)."""
    state = device.state
    tagged = await uow.read_for_decision([QueryItem(_NAME_EVENT_TYPES, (name_tag(state.site, state.name),))])
    others = sorted(name_holders(state.site, state.name, tagged) - {device.id})
    if others:
        raise DeviceNameTaken(
            f"the name {state.name!r} is already used at site {state.site!r} by device {others[0]!r}; "
            "choose another name (or rename or move that device first)"
        )
