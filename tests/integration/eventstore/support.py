"""Helpers shared by the event store tests."""

from __future__ import annotations

import uuid
from typing import Any

from sensorhub.application.stored_events import NewEvent
from sensorhub.eventstore.memory import InMemoryEventStore
from sensorhub.eventstore.postgres import PostgresEventStore

Store = PostgresEventStore | InMemoryEventStore


def new_event(type_: str = "Something", **data: Any) -> NewEvent:
    return NewEvent(uuid.uuid4(), type_, 1, data or {"n": 1}, {"actor": "test"})
