"""The global event feed (``GET /v1/events``): gap-safe, in feed order."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from sensorhub.bootstrap import Services
from sensorhub.eventstore.feed import cursor_for_position, read_feed
from sensorhub.http.views import EventPage, event_item
from sensorhub.http.write_side import translated_errors, write_side


class EventsController(Controller):
    path = "/v1/events"
    tags = ["events"]

    @get("/", opt={"scope": "read"}, operation_id="readFeed")
    async def feed(
        self,
        services: NamedDependency[Services],
        after: Annotated[
            int, QueryParameter(ge=0, le=2**63 - 1, description="Position of the last event seen (0: the start)")
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        types: Annotated[list[str] | None, QueryParameter(name="type", description="Only these event types")] = None,
    ) -> EventPage:
        """Committed events after ``after`` in feed order: (transaction, position). Positions are unique
        but not always increasing along the feed; pass the last item's position as the next ``after``.
        ``next_cursor`` is that position while a full page suggests more is waiting."""
        registry = write_side(services).registry
        async with services.pool.acquire() as conn:
            with translated_errors():
                cursor = await cursor_for_position(conn, after)
            records = await read_feed(conn, cursor, limit, types)
        items = [event_item(registry.upcast_record(r)) for r in records]
        return EventPage(items, str(records[-1].position) if len(records) == limit else None)
