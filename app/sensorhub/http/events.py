"""The global event feed (``GET /v1/events``): gap-safe, in feed order."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from litestar import Controller, get
from litestar.params import QueryParameter

from sensorhub.eventstore.codec import EventTypeRegistry
from sensorhub.eventstore.feed import cursor_for_position, read_feed
from sensorhub.http import dependencies as deps
from sensorhub.http.problems import translated_errors
from sensorhub.http.views import EventPage, event_item


class EventsController(Controller):
    path = "/v1/events"
    tags = ["events"]
    dependencies = {"pool": deps.POOL, "codec": deps.CODEC}

    @get("/", opt={"scope": "read"}, operation_id="readFeed")
    async def feed(
        self,
        pool: deps.Injected[asyncpg.Pool],
        codec: deps.Injected[EventTypeRegistry],
        after: Annotated[
            int, QueryParameter(ge=0, le=2**63 - 1, description="Position of the last event seen (0: the start)")
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        types: Annotated[list[str] | None, QueryParameter(name="type", description="Only these event types")] = None,
    ) -> EventPage:
        """Committed events after ``after`` in feed order: (transaction, position). Positions are unique
        but not always increasing along the feed; pass the last item's position as the next ``after``.
        ``next_cursor`` is that position while a full page suggests more is waiting."""
        async with pool.acquire() as conn:
            with translated_errors():
                cursor = await cursor_for_position(conn, after)
            records = await read_feed(conn, cursor, limit, types)
        items = [event_item(codec.upcast_record(r)) for r in records]
        return EventPage(items, str(records[-1].position) if len(records) == limit else None)
