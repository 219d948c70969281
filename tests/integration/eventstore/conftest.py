from __future__ import annotations

import asyncpg
import pytest
from sensorhub.eventstore.memory import InMemoryEventStore
from sensorhub.eventstore.postgres import PostgresEventStore

from tests.integration.eventstore.support import Store


@pytest.fixture(params=["postgres", "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    """The contract suite runs against every backend (a sync fixture, so it may ask for ``pool``)."""
    if request.param == "memory":
        return InMemoryEventStore()
    pool: asyncpg.Pool = request.getfixturevalue("pool")
    return PostgresEventStore(pool)
