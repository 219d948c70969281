"""The global feed never passes an event whose transaction commits later with a lower position."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import asyncpg
from sensorhub.application.stored_events import FeedCursor, RecordedEvent
from sensorhub.eventstore.feed import read_feed
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.integration.eventstore.support import new_event


async def test_a_reader_waits_for_a_transaction_that_commits_late(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as slow, pool.acquire() as fast, pool.acquire() as reader:
        tx = slow.transaction()
        await tx.start()
        early = await PostgresEventStore(slow).append("slow", "Thing", [new_event()])
        late = await PostgresEventStore(fast).append("fast", "Thing", [new_event()])  # commits at once
        assert early.position < late.position

        # A naive reader by position sees only the later event and would move past the earlier one.
        naive = await reader.fetch("SELECT position FROM events WHERE position > 0 ORDER BY position")
        assert [r["position"] for r in naive] == [late.position]
        # The feed shows nothing while the earlier transaction is open.
        assert await read_feed(reader, FeedCursor.start(), 10) == []

        await tx.commit()
        seen = await read_feed(reader, FeedCursor.start(), 10)
        assert [e.position for e in seen] == [early.position, late.position]


async def test_a_rolled_back_append_leaves_no_trace_in_the_feed(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as writer, pool.acquire() as reader:
        tx = writer.transaction()
        await tx.start()
        await PostgresEventStore(writer).append("gone", "Thing", [new_event()])
        await tx.rollback()
        kept = await PostgresEventStore(pool).append("kept", "Thing", [new_event()])
        assert [e.position for e in await read_feed(reader, FeedCursor.start(), 10)] == [kept.position]


async def test_tailing_many_concurrent_transactions_sees_each_committed_event_once(pool: asyncpg.Pool) -> None:
    rng = random.Random(1234)
    committed: set[uuid.UUID] = set()
    rolled_back: set[uuid.UUID] = set()
    writers_done = asyncio.Event()

    async def transaction(n: int) -> None:
        await asyncio.sleep(rng.uniform(0, 0.3))
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            ids: list[uuid.UUID] = []
            # streams in a fixed order, as the unit of work does, so writers cannot deadlock
            for stream in sorted({f"s-{rng.randint(1, 5)}" for _ in range(rng.randint(1, 3))}):
                events = [new_event(n=n) for _ in range(rng.randint(1, 3))]
                await PostgresEventStore(conn).append(stream, "Thing", events)
                ids += [e.event_id for e in events]
                await asyncio.sleep(rng.uniform(0, 0.02))
            held = rng.random() < 0.15  # some stay open far longer than the rest
            await asyncio.sleep(rng.uniform(0.2, 0.6) if held else rng.uniform(0, 0.05))
            if rng.random() < 0.25:
                await tx.rollback()
                rolled_back.update(ids)
            else:
                await tx.commit()
                committed.update(ids)

    async def writers() -> None:
        semaphore = asyncio.Semaphore(6)  # the pool holds 10; leave room for the reader

        async def bounded(n: int) -> None:
            async with semaphore:
                await transaction(n)

        await asyncio.gather(*(bounded(n) for n in range(60)))
        writers_done.set()

    async def tail() -> list[RecordedEvent]:
        seen: list[RecordedEvent] = []
        cursor = FeedCursor.start()
        async with pool.acquire() as conn:
            deadline = None
            while True:
                async with conn.transaction():  # as a projector does: read inside its own transaction
                    batch = await read_feed(conn, cursor, rng.randint(1, 7))
                if batch:
                    seen += batch
                    cursor = batch[-1].cursor
                    continue
                if writers_done.is_set():
                    deadline = deadline or time.monotonic() + 30
                    if {e.event_id for e in seen} >= committed or time.monotonic() > deadline:
                        return seen
                await asyncio.sleep(0.01)

    seen, _ = await asyncio.gather(tail(), writers())
    ids = [e.event_id for e in seen]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert set(ids) == committed, "the reader missed a committed event or saw a rolled-back one"
    assert not set(ids) & rolled_back
    cursors = [e.cursor for e in seen]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    # the order is stable: a fresh reader from the start sees the very same sequence
    async with pool.acquire() as conn:
        again = await read_feed(conn, FeedCursor.start(), 10_000)
    assert [e.event_id for e in again] == ids
    assert len(committed) > 50 and rolled_back


async def test_the_feed_orders_transaction_ids_as_numbers_not_text(pool: asyncpg.Pool) -> None:
    """Transaction ids gain a digit (999 -> 1000, 9999 -> 10000) on every young cluster.
    A feed ordered by the ids' text would read 1000 before 999 and its cursor would skip events
    (found by the chaos test on a fresh cluster). Rows are written with explicit, already-ended
    transaction ids so the case is exact whatever this cluster's xid counter is."""
    tx_ids = [8, 9, 10, 11, 98, 99, 100, 101, 500]  # all below any live xid: initdb alone passes 700
    async with pool.acquire() as conn:
        for n, tx_id in enumerate(tx_ids, start=1):
            await conn.execute(
                "INSERT INTO streams (stream_id, stream_type, version) VALUES ($1, 'Thing', 1)", f"xid-{n}"
            )
            await conn.execute(
                "INSERT INTO events (transaction_id, event_id, stream_id, stream_version, type, schema_version, data)"
                " VALUES ($1::text::xid8, $2, $3, 1, 'Thing', 1, '{}')",
                str(tx_id), uuid.uuid4(), f"xid-{n}",
            )
        walked: list[int] = []
        cursor = FeedCursor.start()
        while batch := await read_feed(conn, cursor, 3):  # small pages: each page's end becomes the cursor
            walked += [e.transaction_id for e in batch]
            cursor = batch[-1].cursor
    assert walked == tx_ids
