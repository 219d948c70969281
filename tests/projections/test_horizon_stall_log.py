"""A projector held back by an open writing transaction names it in its log."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import pytest
import structlog
from sensorhub.db import init_connection
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.conftest import drop_database, fresh_database
from tests.integration.eventstore.support import new_event
from tests.projections.support import FAST, running_projector


@pytest.fixture
async def plain_url() -> AsyncIterator[str]:
    """The plain cluster: TimescaleDB's job scheduler writes now and then, and the horizon is cluster-wide."""
    url = await fresh_database("postgres")
    yield url
    await drop_database(url, "postgres")


async def test_the_projector_logs_the_session_that_holds_the_feed_back(plain_url: str) -> None:
    writer = await asyncpg.connect(plain_url, server_settings={"application_name": "forgotten-psql"})
    await init_connection(writer)
    try:
        with structlog.testing.capture_logs() as logs:
            async with running_projector(plain_url, config=dataclasses.replace(FAST, horizon_stall_s=0.3)):
                tx = writer.transaction()
                await tx.start()
                await PostgresEventStore(writer).append("held", "Thing", [new_event()])
                for _ in range(50):
                    await asyncio.sleep(0.1)
                    if any(e["event"].startswith("feed horizon stalled") for e in list(logs)):
                        break
                await tx.rollback()
    finally:
        await writer.close()
    stalls = [e for e in logs if e["event"].startswith("feed horizon stalled")]
    assert stalls, [e["event"] for e in logs]
    assert stalls[0]["blocking_pid"] == writer.get_server_pid()
    assert stalls[0]["blocking_application_name"] == "forgotten-psql"
    assert stalls[0]["projection"] in ("registry", "alert_history")
    assert stalls[0]["age_s"] >= 0.3
