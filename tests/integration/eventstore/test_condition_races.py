"""Conditional appends under real concurrency (PostgreSQL, READ COMMITTED): the tag locks of
functions/eventstore_lock_tags.sql let exactly one of many racing writers pass, and make the read's position exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest
from sensorhub.application.errors import AppendConditionFailed
from sensorhub.application.stored_events import AppendCondition, QueryItem, StreamAppend
from sensorhub.db import init_connection
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.integration.eventstore.support import new_event

WRITERS = 16
ROUNDS = 50
ITEM_TYPES = ("Claimed", "Released")


@pytest.fixture
async def wide_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """One connection per writer, so all of them are inside PostgreSQL at once."""
    pool = await asyncpg.create_pool(database_url, min_size=WRITERS, max_size=WRITERS, init=init_connection)
    yield pool
    await pool.close()


async def race(store: PostgresEventStore, tag: str, round_: int) -> list[int]:
    """WRITERS writers each read the tag, then claim it on condition; returns the winners."""
    item = QueryItem(ITEM_TYPES, (tag,))
    start = asyncio.Event()

    async def writer(n: int) -> int | None:
        seen = await store.read_matching([item])
        if any(e.type == "Claimed" for e in seen.events[-1:]):
            return None  # taken before this writer decided
        await start.wait()
        try:
            await store.append(
                f"w{round_}-{n}",
                "Thing",
                [replace(new_event("Claimed", writer=n), tags=(tag,))],
                "no_stream",
                AppendCondition((item,), seen.position),
            )
        except AppendConditionFailed:
            return None
        return n

    tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    await asyncio.sleep(0.02)
    start.set()
    return [n for n in await asyncio.gather(*tasks) if n is not None]


async def test_sixteen_writers_racing_for_one_tag_one_wins_every_round(wide_pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(wide_pool)
    for round_ in range(ROUNDS):
        winners = await race(store, f"name:{round_}", round_)
        assert len(winners) == 1, (round_, winners)
    for round_ in range(ROUNDS):
        claimed = (await store.read_matching([QueryItem(ITEM_TYPES, (f"name:{round_}",))])).events
        assert len(claimed) == 1


async def test_racing_again_after_a_release_one_wins_every_round(wide_pool: asyncpg.Pool) -> None:
    """The same tag, claimed and released again and again: the condition's position is not 0."""
    store = PostgresEventStore(wide_pool)
    for round_ in range(ROUNDS):
        winners = await race(store, "name:shared", round_)
        assert len(winners) == 1, (round_, winners)
        (winner,) = winners
        await store.append(f"w{round_}-{winner}", "Thing", [replace(new_event("Released"), tags=("name:shared",))])
    history = (await store.read_matching([QueryItem(ITEM_TYPES, ("name:shared",))])).events
    assert [e.type for e in history] == ["Claimed", "Released"] * ROUNDS


async def test_the_read_waits_for_open_writers_of_its_tags_so_its_position_is_exact(
    pool: asyncpg.Pool, database_url: str
) -> None:
    """A writer that drew a lower position but commits later must not hide below the read's position."""
    store = PostgresEventStore(pool)
    tag = QueryItem(ITEM_TYPES, ("name:x",))
    slow = await asyncpg.connect(database_url)
    await init_connection(slow)
    try:
        tx = slow.transaction()
        await tx.start()
        early = await PostgresEventStore(slow).append(
            "early", "Thing", [replace(new_event("Claimed"), tags=("name:x",))]
        )
        late = await store.append("late", "Thing", [replace(new_event("Claimed"), tags=("name:x",))])
        assert early.position < late.position
        reading = asyncio.create_task(store.read_matching([tag]))
        await asyncio.sleep(0.2)
        assert not reading.done()  # waits for the open writer instead of reading past it
        await tx.commit()
        seen = await reading
    finally:
        await slow.close()
    assert [e.stream_id for e in seen.events] == ["early", "late"]
    assert seen.position == late.position


async def test_multi_stream_appends_on_one_condition_one_wins_every_round(wide_pool: asyncpg.Pool) -> None:
    """The same race through append_many (its first statement takes every lock and checks)."""
    store = PostgresEventStore(wide_pool)
    for round_ in range(20):
        tag = f"name:multi-{round_}"
        item = QueryItem(ITEM_TYPES, (tag,))
        start = asyncio.Event()

        async def writer(n: int, tag: str = tag, item: QueryItem = item, start: asyncio.Event = start) -> bool:
            seen = await store.read_matching([item])
            if seen.events:
                return False  # taken before this writer decided
            await start.wait()
            try:
                await store.append_many(
                    [
                        StreamAppend(
                            f"m{tag}-{n}", "Thing", (replace(new_event("Claimed"), tags=(tag,)),), "no_stream"
                        ),
                        StreamAppend(f"log-{n}", "Thing", (new_event("Noted"), new_event("Noted")), "any"),
                    ],
                    AppendCondition((item,), seen.position),
                )
            except AppendConditionFailed:
                return False
            return True

        tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
        await asyncio.sleep(0.02)
        start.set()
        assert sum(await asyncio.gather(*tasks)) == 1, round_
        assert len((await store.read_matching([item])).events) == 1


@pytest.mark.parametrize(
    "tags", [("name:y",), ("name:old", "name:y"), ("name:y", "name:a", "name:b")], ids=["one tag", "two", "three"]
)
@pytest.mark.parametrize("expected", [0, 1], ids=["new stream", "exact version"])
async def test_a_conditional_append_waiting_for_a_writer_of_its_tag_sees_its_event(
    pool: asyncpg.Pool, database_url: str, expected: int, tags: tuple[str, ...]
) -> None:
    """The single-statement path (issue 17) checks in a snapshot that must be taken after it got
    the tag's lock, or it misses the event of the writer it waited for (committed between the two)
    and two holders of one name both pass. Both writers on the statement path, each shape of its
    tag locks: the event's only tag, two (a rename: eventstore_tag_pair for the checker), three."""
    store = PostgresEventStore(pool)
    item = QueryItem(ITEM_TYPES, ("name:y",))
    if expected:
        await store.append("checker", "Thing", [new_event()], 0)
    slow = await asyncpg.connect(database_url)
    await init_connection(slow)
    try:
        tx = slow.transaction()
        await tx.start()
        await PostgresEventStore(slow).append("holder", "Thing", [replace(new_event("Claimed"), tags=tags)], 0)
        checking = asyncio.create_task(
            store.append(
                "checker",
                "Thing",
                [replace(new_event("Claimed"), tags=tags)],
                expected,
                AppendCondition((item,), 0),
            )
        )
        for _ in range(500):  # until the conditional append waits for the holder's tag lock
            assert not checking.done(), checking.result()
            if await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'"
            ):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the conditional append never waited for the tag lock")
        await tx.commit()
        with pytest.raises(AppendConditionFailed):
            await checking
    finally:
        await slow.close()
    assert await store.stream_version("checker") == expected
