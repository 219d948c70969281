"""The global event feed (``GET /v1/events``): gap-safe, in feed order."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from sensorhub.bootstrap import Services
from sensorhub.eventstore.feed import cursor_for_position, read_feed
from sensorhub.http.field_errors import invalid
from sensorhub.http.openapi import documented
from sensorhub.http.problems import ProblemError
from sensorhub.http.views import EventPage, event_item
from sensorhub.http.write_side import translated_errors, write_side

MAX_POSITION = 2**63 - 1


def position_cursor(cursor: str) -> int:
    """A feed ``next_cursor`` back as the position it stands for."""
    if not cursor.isdigit() or int(cursor) > MAX_POSITION:
        message = "`cursor` is not one this API returned; pass `next_cursor` from the previous page unchanged"
        raise ProblemError(422, message, extra=invalid("cursor", message))
    return int(cursor)


def event_types(requested: list[str] | None, known: list[str]) -> list[str] | None:
    """``type=A,B`` and ``type=A&type=B`` alike; an unknown name → 422 listing the known ones."""
    names = [n.strip() for value in requested or [] for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        message = f"unknown event type {', '.join(map(repr, unknown))}; expected one of: {', '.join(known)}"
        raise ProblemError(422, message, extra=invalid("type", message))
    return names or None


class EventsController(Controller):
    path = "/v1/events"
    tags = ["events"]

    @get("/", opt={"scope": "read"}, operation_id="readFeed", responses=documented(None, 404))
    async def feed(
        self,
        services: NamedDependency[Services],
        after: Annotated[
            int, QueryParameter(ge=0, le=MAX_POSITION, description="Position of the last event seen (0: the start)")
        ] = 0,
        cursor: Annotated[
            str | None, QueryParameter(description="`next_cursor` of the previous page (instead of `after`)")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="Page size (default 50, at most 1000)")] = 50,
        types: Annotated[
            list[str] | None,
            QueryParameter(name="type", description="Only these event types (repeat it, or comma-separate them)"),
        ] = None,
    ) -> EventPage:
        """Committed events after ``after`` (or ``cursor``) in feed order: (transaction, position).
        Positions are unique but not always increasing along the feed; ``next_cursor`` (the last
        item's position) continues while a full page suggests more is waiting. A position that
        names no event → 404."""
        registry = write_side(services).registry
        wanted = event_types(types, registry.names())
        start = position_cursor(cursor) if cursor is not None else after
        async with services.pool.acquire() as conn:
            with translated_errors():
                feed_cursor = await cursor_for_position(conn, start)
            records = await read_feed(conn, feed_cursor, limit, wanted)
        items = [event_item(registry.upcast_record(r)) for r in records]
        return EventPage(items, str(records[-1].position) if len(records) == limit else None)
