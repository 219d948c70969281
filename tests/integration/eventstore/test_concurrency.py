"""Many writers on one stream: every version written once, no lost update, losers told so."""

from __future__ import annotations

import asyncio

import asyncpg
from sensorhub.application.errors import ConcurrencyError
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.integration.eventstore.support import new_event

WRITERS = 16


async def test_sixteen_writers_with_exact_expectations(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    await store.append("hot", "Thing", [new_event(writer=-1)], "no_stream")
    start = asyncio.Event()
    appended: list[int] = []
    conflicts: list[ConcurrencyError] = []

    async def writer(n: int) -> None:
        await start.wait()
        try:
            result = await store.append("hot", "Thing", [new_event(writer=n)], 1)
            appended.append(result.version)
        except ConcurrencyError as exc:
            conflicts.append(exc)

    tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    await asyncio.sleep(0.05)
    start.set()
    await asyncio.gather(*tasks)
    assert appended == [2]
    assert len(conflicts) == WRITERS - 1
    assert all(c.actual_version == 2 for c in conflicts)
    events = await store.read_stream("hot")
    assert [e.stream_version for e in events] == [1, 2]


async def test_sixteen_writers_retrying_lose_no_update(pool: asyncpg.Pool) -> None:
    """Each writer reads the version, appends with it as expectation, and retries on conflict."""
    store = PostgresEventStore(pool)
    per_writer = 5
    conflicts = 0
    stale: list[bool] = []  # each loser learns a newer version than the one it read

    async def writer(n: int) -> None:
        nonlocal conflicts
        for i in range(per_writer):
            while True:
                version = await store.stream_version("hot")
                try:
                    await store.append("hot", "Thing", [new_event(writer=n, i=i)], version)
                    break
                except ConcurrencyError as exc:
                    stale.append(exc.actual_version > version)
                    conflicts += 1

    await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    events = await store.read_stream("hot")
    assert [e.stream_version for e in events] == list(range(1, WRITERS * per_writer + 1))
    assert sorted((e.data["writer"], e.data["i"]) for e in events) == sorted(
        (n, i) for n in range(WRITERS) for i in range(per_writer)
    )
    assert conflicts > 0
    assert all(stale)


async def test_sixteen_writers_with_any_all_land(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    results = await asyncio.gather(
        *(store.append("hot", "Thing", [new_event(writer=n), new_event(writer=n)], "any") for n in range(WRITERS))
    )
    assert sorted(r.version for r in results) == [2 * n for n in range(1, WRITERS + 1)]
    events = await store.read_stream("hot")
    assert [e.stream_version for e in events] == list(range(1, 2 * WRITERS + 1))
    for first, second in zip(events[::2], events[1::2], strict=True):  # a batch stays contiguous
        assert first.data["writer"] == second.data["writer"]


async def test_concurrent_identical_appends_write_once(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    events = [new_event(), new_event()]
    results = await asyncio.gather(*(store.append("s", "Thing", events, "no_stream") for _ in range(8)))
    assert {r.positions for r in results} == {results[0].positions}
    assert sum(not r.replayed for r in results) == 1
    assert len(await store.read_stream("s")) == 2
