"""Device command handlers: plain functions ``(command, uow)``."""

from __future__ import annotations

from sensorhub.application.errors import AlreadyExists, ConcurrencyError
from sensorhub.application.results import CommandResult, result_of
from sensorhub.application.unit_of_work import UnitOfWork
from sensorhub.domain.device import Device, DeviceState
from sensorhub.domain.device_commands import (
    ClearThreshold,
    DecommissionDevice,
    RegisterDevice,
    SetThreshold,
    UpdateDevice,
)

DeviceResult = CommandResult[DeviceState]


async def register_device(cmd: RegisterDevice, uow: UnitOfWork) -> DeviceResult:
    if await uow.devices.find(cmd.device_id) is not None:
        raise AlreadyExists(f"a device with id {cmd.device_id!r} already exists")
    device = Device.register(cmd)
    uow.devices.add(device)
    try:
        commit = await uow.commit()
    except ConcurrencyError:
        raise AlreadyExists(f"a device with id {cmd.device_id!r} already exists") from None
    return result_of(device, commit)


async def update_device(cmd: UpdateDevice, uow: UnitOfWork) -> DeviceResult:
    device = await uow.devices.get(cmd.device_id, cmd.expected_version)
    device.update(cmd)
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
