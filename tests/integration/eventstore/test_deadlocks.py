"""A deadlock the store cannot prevent by ordering (other work in the caller's transaction)
surfaces as TransientWriteError, never as a raw driver error; nothing of the victim is written."""

from __future__ import annotations

import asyncio

import asyncpg
from sensorhub.application.errors import TransientWriteError
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.integration.eventstore.support import new_event


async def test_a_deadlock_across_caller_transactions_is_a_retryable_error(pool: asyncpg.Pool) -> None:
    both_hold_one = asyncio.Barrier(2)

    async def caller(first: str, second: str) -> str:
        async with pool.acquire() as conn, conn.transaction():
            store = PostgresEventStore(conn)
            await store.append(first, "Thing", [new_event()])
            await both_hold_one.wait()
            await store.append(second, "Thing", [new_event()])
        return first

    outcomes = await asyncio.gather(caller("a", "b"), caller("b", "a"), return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1, outcomes
    assert isinstance(failed[0], TransientWriteError)
    assert "run the command again" in str(failed[0])
    store = PostgresEventStore(pool)
    assert await store.stream_version("a") + await store.stream_version("b") == 2  # only the winner's
