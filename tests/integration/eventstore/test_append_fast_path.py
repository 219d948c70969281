"""The single-event append at an exact expected version is one plain SQL statement (issue 18,
``_APPEND_AT`` / ``_APPEND_NEW`` in sensorhub/eventstore/postgres.py): its failure modes, each
forced by holding the competing writer's transaction open until the fast path waits on it.

The statement's idempotency probe runs in the snapshot the statement started with, not after the
lock as the PL/pgSQL functions' does; what makes that safe is that it never decides a conflict or
a replay itself: when it writes nothing, the functions decide in a new snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace

import asyncpg
import pytest
from sensorhub.application.errors import ConcurrencyError, EventIdConflict
from sensorhub.application.stored_events import AppendCondition, AppendResult, Expected, NewEvent, QueryItem
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.integration.eventstore.support import new_event


async def _waiting_on_a_lock(pool: asyncpg.Pool, task: asyncio.Task[AppendResult]) -> None:
    """Until another session of this database waits on a lock (the task's statement)."""
    for _ in range(500):
        assert not task.done(), f"the append did not wait: {task.result()!r}"
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the append never waited on a lock")


async def _while_held(
    pool: asyncpg.Pool,
    first: tuple[str, NewEvent, Expected],
    second: tuple[str, NewEvent, Expected],
    *,
    commit: bool = True,
) -> tuple[AppendResult, Awaitable[AppendResult]]:
    """Append ``first`` in an open transaction, start ``second`` on the pool, wait until it waits
    for the first, then commit (or roll back) the first; returns the first's result and the second."""
    store = PostgresEventStore(pool)
    conn = await pool.acquire()
    try:
        tx = conn.transaction()
        await tx.start()
        held = await PostgresEventStore(conn).append(first[0], "Thing", [first[1]], first[2])
        task = asyncio.create_task(store.append(second[0], "Thing", [second[1]], second[2]))
        await _waiting_on_a_lock(pool, task)
        await (tx.commit() if commit else tx.rollback())
    finally:
        await pool.release(conn)
    return held, task


async def test_a_retry_racing_its_original_replays(pool: asyncpg.Pool) -> None:
    """The retry waits for the stream row; the original commits; the retry's claim then misses
    (version moved) and the functions find the identical event: replay, same position."""
    store = PostgresEventStore(pool)
    await store.append("s", "Thing", [new_event()], 0)
    event = new_event()
    held, retry = await _while_held(pool, ("s", event, 1), ("s", event, 1))
    result = await retry
    assert result.replayed and result.positions == held.positions and result.version == 2
    assert [e.stream_version for e in await store.read_stream("s")] == [1, 2]


async def test_a_retry_racing_its_original_on_a_new_stream_replays(pool: asyncpg.Pool) -> None:
    event = new_event()
    held, retry = await _while_held(pool, ("new", event, 0), ("new", event, "no_stream"))
    result = await retry
    assert result.replayed and result.positions == held.positions and result.version == 1


async def test_a_racing_writer_at_the_same_version_gets_the_actual_version(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    await store.append("s", "Thing", [new_event()], 0)
    _, task = await _while_held(pool, ("s", new_event(), 1), ("s", new_event(), 1))
    with pytest.raises(ConcurrencyError) as caught:
        await task
    assert caught.value.actual_version == 2
    assert await store.stream_version("s") == 2


async def test_a_racing_creator_of_the_same_stream_gets_the_actual_version(pool: asyncpg.Pool) -> None:
    _, task = await _while_held(pool, ("new", new_event(), 0), ("new", new_event(), 0))
    with pytest.raises(ConcurrencyError) as caught:
        await task
    assert caught.value.actual_version == 1


async def test_the_writer_waited_for_rolls_back_and_the_waiter_appends(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    await store.append("s", "Thing", [new_event()], 0)
    _, task = await _while_held(pool, ("s", new_event(), 1), ("s", new_event(w=2), 1), commit=False)
    result = await task
    assert (result.version, result.replayed) == (2, False)
    assert [e.data for e in await store.read_stream("s")] == [{"n": 1}, {"w": 2}]


async def test_an_id_racing_into_another_stream_is_a_conflict_and_leaves_no_stream(pool: asyncpg.Pool) -> None:
    """The probe's snapshot cannot see the other stream's uncommitted event: the event id's unique
    index makes the statement wait for it and then fail, and the new stream row goes with it."""
    store = PostgresEventStore(pool)
    event = new_event()
    _, task = await _while_held(pool, ("a", event, 0), ("b", event, 0))
    with pytest.raises(EventIdConflict):
        await task
    assert await store.stream_version("b") == 0
    assert await pool.fetchval("SELECT count(*) FROM streams WHERE stream_id = 'b'") == 0


async def test_replay_and_conflict_after_commit(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    event = new_event()
    first = await store.append("s", "Thing", [event], 0)
    again = await store.append("s", "Thing", [event], 0)
    assert again.replayed and again.positions == first.positions and again.version == 1
    changed = NewEvent(event.event_id, event.type, 1, {"n": 2}, event.metadata)
    with pytest.raises(EventIdConflict):
        await store.append("s", "Thing", [changed], 1)
    with pytest.raises(EventIdConflict):
        await store.append("other", "Thing", [event], 0)
    assert await store.stream_version("s") == 1 and await store.stream_version("other") == 0


async def test_a_fallback_inside_a_transaction_leaves_it_usable(pool: asyncpg.Pool) -> None:
    """When the statement writes nothing it raises nothing either: a replay inside a caller's
    transaction (the unit of work's) does not abort it."""
    store = PostgresEventStore(pool)
    event = new_event()
    await store.append("s", "Thing", [event], 0)
    async with pool.acquire() as conn, conn.transaction():
        in_tx = PostgresEventStore(conn)
        assert (await in_tx.append("s", "Thing", [event], 0)).replayed
        assert (await in_tx.append("s", "Thing", [new_event()], 1)).version == 2
    assert await store.stream_version("s") == 2


async def test_a_stale_expectation_is_a_conflict_not_a_gap(pool: asyncpg.Pool) -> None:
    """An expectation ahead of the stream (or on a stream that does not exist) writes nothing."""
    store = PostgresEventStore(pool)
    await store.append("s", "Thing", [new_event()], 0)
    for stream, expected, actual in (("s", 5, 1), ("s", 0, 1), ("nowhere", 3, 0)):
        with pytest.raises(ConcurrencyError) as caught:
            await store.append(stream, "Thing", [new_event()], expected)
        assert caught.value.actual_version == actual
    assert [e.stream_version for e in await store.read_stream("s")] == [1]


async def test_a_stored_event_sent_again_at_the_current_version_replays(pool: asyncpg.Pool) -> None:
    """Here the claim alone would go through (the expectation is met). On the pool the statement has
    no id probe: the insert hits the event id's unique index, the statement rolls back (claim
    included) and the functions replay. Inside a transaction, which that error would abort, the
    statement's probe of the event id is what hands over to the functions."""
    store = PostgresEventStore(pool)
    event = new_event()
    first = await store.append("s", "Thing", [event], 0)
    again = await store.append("s", "Thing", [event], 1)
    assert again.replayed and again.positions == first.positions and again.version == 1
    async with pool.acquire() as conn, conn.transaction():
        in_tx = PostgresEventStore(conn)
        assert (await in_tx.append("s", "Thing", [event], 1)).replayed
        assert (await in_tx.append("s", "Thing", [new_event()], 1)).version == 2
    assert await store.stream_version("s") == 2


@pytest.mark.parametrize("conditional", [False, True], ids=["tagged", "conditional"])
async def test_a_stored_tagged_event_sent_again_at_the_current_version_replays(
    pool: asyncpg.Pool, conditional: bool
) -> None:
    """The same for the tagged statement (issue 17): a replay, no second tag row, the version kept."""
    store = PostgresEventStore(pool)
    event = replace(new_event("Claimed"), tags=("name:r", "name:r"))
    condition = AppendCondition((QueryItem(("Claimed",), ("name:r",)),), 0) if conditional else None
    first = await store.append("s", "Thing", [event], 0, condition)
    again = await store.append("s", "Thing", [event], 1, condition)
    assert again.replayed and again.positions == first.positions and again.version == 1
    async with pool.acquire() as conn, conn.transaction():
        assert (await PostgresEventStore(conn).append("s", "Thing", [event], 1, condition)).replayed
    assert await store.stream_version("s") == 1
    assert await pool.fetchval("SELECT count(*) FROM event_tags WHERE tag = 'name:r'") == 1
