"""The feed's horizon, visible: the writing transaction it waits for is named, aged, exported as a
gauge, shown in readiness and logged by the projector when it stalls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import structlog
from prometheus_client import REGISTRY
from sensorhub.application.stored_events import FeedCursor
from sensorhub.db import init_connection
from sensorhub.eventstore.horizon import FeedHorizon, HorizonWatch, feed_horizon
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.conftest import drop_database, fresh_database
from tests.integration.eventstore.support import new_event
from tests.support.app import client_for, settings_for


@pytest.fixture
async def plain_url() -> AsyncIterator[str]:
    """On the plain PostgreSQL cluster: the horizon is cluster-wide, and TimescaleDB's job
    scheduler writes now and then in every database that has the extension."""
    url = await fresh_database("postgres")
    yield url
    await drop_database(url, "postgres")


@pytest.fixture
async def pool(plain_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(plain_url, min_size=1, max_size=4, init=init_connection)
    yield p
    await p.close()


@pytest.fixture
async def writer(plain_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A session with an open writing transaction (it has appended and not committed)."""
    conn = await asyncpg.connect(plain_url, server_settings={"application_name": "slow-batch-job"})
    await init_connection(conn)
    tx = conn.transaction()
    await tx.start()
    await PostgresEventStore(conn).append("held", "Thing", [new_event()])
    yield conn
    await tx.rollback()
    await conn.close()


def gauge() -> float:
    value = REGISTRY.get_sample_value("sensorhub_feed_horizon_age_seconds")
    assert value is not None
    return value


async def test_a_reading_transaction_does_not_hold_the_horizon(pool: asyncpg.Pool) -> None:
    """Only transactions that have written count (the cluster's own background workers may
    write for a moment, so the test looks for its own session only)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.fetchval("SELECT count(*) FROM events")
        await asyncio.sleep(0.05)
        async with pool.acquire() as other:
            assert (await feed_horizon(other)).pid != conn.get_server_pid()
    assert FeedHorizon().describe() == "no writing transaction open: the feed is not held back"


async def test_the_open_writer_is_named_with_its_age(pool: asyncpg.Pool, writer: asyncpg.Connection) -> None:
    await asyncio.sleep(0.3)
    async with pool.acquire() as conn:
        horizon = await feed_horizon(conn)
        await PostgresEventStore(conn).append("later", "Thing", [new_event()])
        assert await PostgresEventStore(conn).read_feed(FeedCursor.start(), 10) == []  # what the feed waits for
    assert horizon.pid == writer.get_server_pid()
    assert horizon.application_name == "slow-batch-job"
    assert horizon.age_s >= 0.3
    assert horizon.state == "idle in transaction"
    assert f"pid {horizon.pid} (slow-batch-job)" in horizon.describe()


async def test_the_watch_sets_the_gauge_and_logs_the_blocking_session_once(
    pool: asyncpg.Pool, writer: asyncpg.Connection
) -> None:
    log = structlog.get_logger("test")
    watch = HorizonWatch(log, stall_after_s=0.2, repeat_every_s=3600)
    async with pool.acquire() as conn:
        with structlog.testing.capture_logs() as logs:
            await watch.observe(conn)  # younger than the threshold: quiet
            assert logs == []
            await asyncio.sleep(0.25)
            await watch.observe(conn)
            await watch.observe(conn)  # the same stall is not logged twice in a row
        assert gauge() >= 0.2
        (stall,) = logs
        assert stall["log_level"] == "warning"
        assert stall["blocking_pid"] == writer.get_server_pid()
        assert stall["blocking_application_name"] == "slow-batch-job"
        assert stall["age_s"] >= 0.2
        await writer.execute("ROLLBACK")
        with structlog.testing.capture_logs() as logs:
            await watch.observe(conn)
        assert [entry["event"] for entry in logs] == ["feed horizon moving again"]
        assert gauge() < 0.2


async def test_readiness_shows_the_horizon_without_depending_on_it(
    plain_url: str, writer: asyncpg.Connection
) -> None:
    async with client_for(settings_for(plain_url)) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    check = response.json()["checks"]["feed_horizon"]
    assert check["critical"] is False
    assert check["ok"] is True  # younger than the stall threshold
    assert f"waits for pid {writer.get_server_pid()} (slow-batch-job)" in check["detail"]


async def test_a_role_that_cannot_see_the_writers_times_still_measures_and_logs_the_stall(
    plain_url: str, writer: asyncpg.Connection
) -> None:
    """Without pg_read_all_stats another role's session shows no times; the horizon itself is visible."""
    await writer.execute("SELECT 1")  # the fixture's open transaction, written by the superuser
    admin = await asyncpg.connect(plain_url)
    try:
        await admin.execute("DROP ROLE IF EXISTS horizon_watcher; CREATE ROLE horizon_watcher LOGIN")
        limited = await asyncpg.connect(plain_url, user="horizon_watcher")
        try:
            hidden = await feed_horizon(limited)
            assert (hidden.pid, hidden.age_known, hidden.age_s) == (writer.get_server_pid(), False, 0.0)
            assert hidden.horizon is not None
            assert "open for a time this role cannot see (grant it pg_monitor" in hidden.describe()
            watch = HorizonWatch(structlog.get_logger("test"), stall_after_s=0.2, repeat_every_s=3600)
            with structlog.testing.capture_logs() as logs:
                await watch.observe(limited)
                await asyncio.sleep(0.25)
                seen = await watch.observe(limited)
            assert seen.age_s >= 0.2
            assert gauge() >= 0.2
            (stall,) = logs
            assert stall["blocking_pid"] == writer.get_server_pid()
            assert stall["blocking_application_name"] == "slow-batch-job"
            assert stall["age_s"] >= 0.2
        finally:
            await limited.close()
    finally:
        await admin.execute("DROP ROLE IF EXISTS horizon_watcher")
        await admin.close()
