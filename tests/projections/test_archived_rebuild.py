"""Archiving resolved alerts changes no read model: a rebuild of every projection after archiving
gives the same rows as before, and a batch that fails half-way leaves everything in place."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sensorhub.application.archiving import archive_resolved_alerts
from sensorhub.eventstore.postgres import PostgresEventStore
from sensorhub.projections import store

from tests.projections.support import KEYS, append_history, assert_equals_scratch, running_projector, wait_caught_up

LATER = datetime.now(UTC) + timedelta(days=1)  # every resolution so far counts as old enough
PROJECTIONS = ("registry", "alert_history")


async def _read_models(conn: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name in PROJECTIONS:
        for table in await conn.fetchval("SELECT rm_tables($1)", name):
            out[table] = [dict(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {KEYS[table]}")]
    return out


async def _rebuilt(conn: Any, name: str) -> None:
    before = (await store.generations(conn, name)).live
    assert await store.request_rebuild(conn, name)
    for _ in range(600):
        gens = await store.generations(conn, name)
        if gens.live > before and gens.shadow is None:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{name} was not rebuilt in time")


async def test_a_rebuild_after_archiving_gives_the_same_read_models(pool: asyncpg.Pool, database_url: str) -> None:
    async with pool.acquire() as conn:
        total = await append_history(conn, 1, 120)
    async with running_projector(database_url), pool.acquire() as conn:
        await wait_caught_up(conn)
        before = await _read_models(conn)
        assert len(before["rm_alerts"]) == 120

        progress = await archive_resolved_alerts(PostgresEventStore(pool), LATER, batch_size=7)

        assert progress.streams == 60  # every even alert is resolved (append_history)
        assert progress.batches == 9
        hot = await conn.fetchval("SELECT count(*) FROM events")
        cold = await conn.fetchval("SELECT count(*) FROM events_archive")
        assert (hot + cold, cold) == (total, progress.events)
        assert await conn.fetchval("SELECT count(*) FROM archived_streams") == 60
        for name in PROJECTIONS:
            await _rebuilt(conn, name)
        await wait_caught_up(conn)
        assert await _read_models(conn) == before
        for name in PROJECTIONS:
            await assert_equals_scratch(conn, name)


async def test_a_batch_that_fails_half_way_archives_nothing_and_the_next_run_finishes(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        total = await append_history(conn, 1, 40)
        # the tombstone insert of one stream fails: its batch (other streams included) must roll back
        await conn.execute(
            "CREATE FUNCTION fail_on_alert_30() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.stream_id = 'alert-30' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$;"
            " CREATE TRIGGER fail_on_alert_30 BEFORE INSERT ON archived_streams"
            " FOR EACH ROW EXECUTE FUNCTION fail_on_alert_30()"
        )
        feed_before = await conn.fetch("SELECT position, transaction_id::text FROM events ORDER BY position")
    archive = PostgresEventStore(pool)
    with pytest.raises(asyncpg.RaiseError, match="injected failure"):
        await archive_resolved_alerts(archive, LATER, batch_size=4)
    async with pool.acquire() as conn:
        archived = {r[0] for r in await conn.fetch("SELECT stream_id FROM archived_streams")}
        # batches go in stream id order (text): [10 12 14 16] [18 2 20 22] committed, [24 26 28 30] failed whole
        assert archived == {f"alert-{i}" for i in (10, 12, 14, 16, 18, 2, 20, 22)}
        moved = {r[0] for r in await conn.fetch("SELECT DISTINCT stream_id FROM events_archive")}
        assert moved == archived
        failed_batch = ["alert-24", "alert-26", "alert-28", "alert-30"]
        assert await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = ANY($1::text[])", failed_batch) == 10
        in_archive = await conn.fetchval(
            "SELECT count(*) FROM events_archive WHERE stream_id = ANY($1::text[])", failed_batch
        )
        assert in_archive == 0
        await conn.execute("DROP TRIGGER fail_on_alert_30 ON archived_streams")
    progress = await archive_resolved_alerts(archive, LATER, batch_size=4)
    assert progress.streams == 12
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM archived_streams") == 20
        assert (
            await conn.fetchval("SELECT count(*) FROM events")
            + await conn.fetchval("SELECT count(*) FROM events_archive")
            == total
        )
        union = (
            "SELECT position, transaction_id::text FROM events"
            " UNION ALL SELECT position, transaction_id::text FROM events_archive"
        )
        assert await conn.fetch(f"{union} ORDER BY position") == feed_before
