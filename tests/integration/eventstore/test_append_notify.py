"""Projectors are woken after an append commits (coalesced NOTIFY), never from inside it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sensorhub.application.stored_events import StreamAppend
from sensorhub.eventstore.notify import EVENTS_CHANNEL, AppendNotifier
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.integration.eventstore.support import new_event


@pytest.fixture
async def heard(database_url: str) -> AsyncIterator[asyncio.Queue[str]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(database_url)
    await conn.add_listener(EVENTS_CHANNEL, lambda *args: queue.put_nowait(args[-1]))
    try:
        yield queue
    finally:
        await conn.close()


async def _drain(queue: asyncio.Queue[str], seconds: float) -> list[str]:
    await asyncio.sleep(seconds)
    found: list[str] = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


async def test_the_append_itself_notifies_nobody(pool: asyncpg.Pool, heard: asyncio.Queue[str]) -> None:
    await PostgresEventStore(pool).append("quiet-1", "Thing", [new_event()])
    async with pool.acquire() as conn, conn.transaction():
        await PostgresEventStore(conn).append("quiet-2", "Thing", [new_event()])
    assert await _drain(heard, 0.3) == []


async def test_a_committed_append_notifies_with_its_position(pool: asyncpg.Pool, heard: asyncio.Queue[str]) -> None:
    notifier = AppendNotifier(pool)
    try:
        result = await PostgresEventStore(pool, notifier=notifier).append("loud", "Thing", [new_event()])
        payload = await asyncio.wait_for(heard.get(), 2)
        assert int(payload) == result.position
    finally:
        await notifier.aclose()


async def test_appends_inside_a_callers_transaction_leave_the_notify_to_the_caller(
    pool: asyncpg.Pool, heard: asyncio.Queue[str]
) -> None:
    notifier = AppendNotifier(pool)
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await PostgresEventStore(conn, notifier=notifier).append("inner", "Thing", [new_event()])
            assert await _drain(heard, 0.2) == []
            # a multi-stream append opens (and commits) its own transaction: notified once, after it
            results = await PostgresEventStore(conn, notifier=notifier).append_many(
                [
                    StreamAppend("m-1", "Thing", (new_event(),), "any"),
                    StreamAppend("m-2", "Thing", (new_event(),), "any"),
                ]
            )
        payload = await asyncio.wait_for(heard.get(), 2)
        assert int(payload) == max(r.position for r in results)
    finally:
        await notifier.aclose()


async def test_many_concurrent_appends_are_coalesced(pool: asyncpg.Pool, heard: asyncio.Queue[str]) -> None:
    notifier = AppendNotifier(pool, interval_s=0.05)
    store = PostgresEventStore(pool, notifier=notifier)
    try:
        results = await asyncio.gather(*(store.append(f"many-{i}", "Thing", [new_event()]) for i in range(40)))
        payloads = await _drain(heard, 0.5)
    finally:
        await notifier.aclose()
    assert 1 <= len(payloads) < 10
    assert max(int(p) for p in payloads) == max(r.position for r in results)


async def test_a_failing_notify_never_fails_the_append(pool: asyncpg.Pool, database_url: str) -> None:
    broken = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    await broken.close()
    notifier = AppendNotifier(broken)
    try:
        result = await PostgresEventStore(pool, notifier=notifier).append("fine", "Thing", [new_event()])
        assert result.version == 1
        await asyncio.sleep(0.05)  # the send fails in the background and is logged
    finally:
        with contextlib.suppress(Exception):
            await notifier.aclose()
