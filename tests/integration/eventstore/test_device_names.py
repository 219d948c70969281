"""A device name is unique within its site (register, rename, move), decided by a conditional
append across device streams: on every backend, and under 16 concurrent writers on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
import pytest
from sensorhub.application import devices as handlers
from sensorhub.application.commands import execute
from sensorhub.application.unit_of_work import UnitOfWork
from sensorhub.db import init_connection
from sensorhub.domain.device_commands import DecommissionDevice, RegisterDevice, UpdateDevice
from sensorhub.domain.errors import DeviceNameTaken
from sensorhub.domain.values import Metric
from sensorhub.eventstore.event_types import build_registry
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work

from tests.integration.eventstore.support import Store

NewUow = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
WRITERS = 16
ROUNDS = 50


def registration(device_id: str, name: str = "Pump", site: str = "plant-1") -> RegisterDevice:
    return RegisterDevice(device_id, name, site, "pump", (Metric("pressure", "bar"),))


@pytest.fixture
def new_uow(store: Store) -> NewUow:
    codec = build_registry()

    @asynccontextmanager
    async def uow() -> AsyncIterator[UnitOfWork]:
        yield UnitOfWork(store, codec)

    return uow


async def test_a_second_device_may_not_take_a_name_used_at_its_site(new_uow: NewUow) -> None:
    await execute(handlers.register_device, registration("d-1"), new_uow)
    with pytest.raises(DeviceNameTaken) as taken:
        await execute(handlers.register_device, registration("d-2"), new_uow)
    assert str(taken.value) == (
        "the name 'Pump' is already used at site 'plant-1' by device 'd-1'; "
        "choose another name (or rename or move that device first)"
    )
    await execute(handlers.register_device, registration("d-2", site="plant-2"), new_uow)  # another site
    await execute(handlers.register_device, registration("d-3", name="Pump 3"), new_uow)


async def test_rename_and_move_into_a_used_name_are_refused(new_uow: NewUow) -> None:
    await execute(handlers.register_device, registration("d-1"), new_uow)
    await execute(handlers.register_device, registration("d-2", name="Valve"), new_uow)
    await execute(handlers.register_device, registration("d-3", site="plant-2"), new_uow)
    with pytest.raises(DeviceNameTaken, match="by device 'd-1'"):
        await execute(handlers.update_device, UpdateDevice("d-2", name="Pump"), new_uow)
    with pytest.raises(DeviceNameTaken, match="by device 'd-1'"):
        await execute(handlers.update_device, UpdateDevice("d-3", site="plant-1"), new_uow)
    with pytest.raises(DeviceNameTaken, match="by device 'd-3'"):  # both at once: the pair it ends with
        await execute(handlers.update_device, UpdateDevice("d-2", name="Pump", site="plant-2"), new_uow)
    await execute(handlers.update_device, UpdateDevice("d-1", name="Pump", site="plant-1"), new_uow)  # its own


async def test_renaming_moving_or_decommissioning_frees_the_name(new_uow: NewUow) -> None:
    await execute(handlers.register_device, registration("d-1"), new_uow)
    await execute(handlers.update_device, UpdateDevice("d-1", name="Old pump"), new_uow)
    await execute(handlers.register_device, registration("d-2"), new_uow)  # "Pump" is free again
    await execute(handlers.update_device, UpdateDevice("d-2", site="plant-2"), new_uow)
    await execute(handlers.register_device, registration("d-3"), new_uow)
    await execute(handlers.decommission_device, DecommissionDevice("d-3"), new_uow)
    await execute(handlers.register_device, registration("d-4"), new_uow)
    with pytest.raises(DeviceNameTaken, match="by device 'd-4'"):
        await execute(handlers.update_device, UpdateDevice("d-1", name="Pump"), new_uow)
    with pytest.raises(DeviceNameTaken, match="by device 'd-2'"):
        await execute(handlers.register_device, registration("d-5", site="plant-2"), new_uow)


@pytest.fixture
async def wide_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=WRITERS, max_size=WRITERS, init=init_connection)
    yield pool
    await pool.close()


async def test_sixteen_concurrent_registrations_of_one_name_one_wins_every_round(wide_pool: asyncpg.Pool) -> None:
    codec = build_registry()

    def new_pg_uow() -> AbstractAsyncContextManager[UnitOfWork]:
        return postgres_unit_of_work(wide_pool, codec)

    every_winner: list[str] = []
    for round_ in range(ROUNDS):
        start = asyncio.Event()

        async def register(n: int, round_: int = round_, start: asyncio.Event = start) -> str:
            await start.wait()
            command = registration(f"r{round_}-d{n}", name=f"Pump {round_}", site="plant-1")
            await execute(handlers.register_device, command, new_pg_uow)
            return command.device_id

        tasks = [asyncio.create_task(register(n)) for n in range(WRITERS)]
        await asyncio.sleep(0.01)
        start.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        winners = [o for o in outcomes if isinstance(o, str)]
        assert len(winners) == 1, (round_, outcomes)
        losers = [o for o in outcomes if not isinstance(o, str)]
        assert all(isinstance(o, DeviceNameTaken) and f"by device {winners[0]!r}" in str(o) for o in losers), losers
        every_winner += winners
    store = PostgresEventStore(wide_pool)
    registered = await wide_pool.fetch("SELECT stream_id FROM streams WHERE stream_type = 'Device' AND version > 0")
    assert sorted(r["stream_id"] for r in registered) == sorted(every_winner)
    assert {await store.stream_version(w) for w in every_winner} == {1}
