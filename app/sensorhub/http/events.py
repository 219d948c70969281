"""The global event feed (``GET /v1/events``): gap-safe, in feed order."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from litestar import Controller, get
from litestar.params import QueryParameter

from sensorhub.eventstore.codec import EventTypeRegistry
from sensorhub.eventstore.feed import cursor_for_position, read_feed
from sensorhub.eventstore.personal_data import reveal_records
from sensorhub.http import dependencies as deps
from sensorhub.http.openapi import documented
from sensorhub.http.problems import invalid, translated_errors
from sensorhub.http.reads import MAX_POSITION, Limit
from sensorhub.http.views import EventPage, event_item
from sensorhub.runtime import Services


def position_cursor(cursor: str) -> int:
    """A feed ``next_cursor`` back as the position it stands for."""
    if not cursor.isdigit() or int(cursor) > MAX_POSITION:
        raise invalid(
            "cursor", "`cursor` is not one this API returned; pass `next_cursor` from the previous page unchanged"
        )
    return int(cursor)


def event_types(requested: list[str] | None, known: list[str]) -> list[str] | None:
    """``type=A,B`` and ``type=A&type=B`` alike; an unknown name → 422 listing the known ones."""
    names = [n.strip() for value in requested or [] for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        names_given = ", ".join(map(repr, unknown))
        raise invalid("type", f"unknown event type {names_given}; expected one of: {', '.join(known)}")
    return names or None


class EventsController(Controller):
    path = "/v1/events"
    tags = ["events"]
    dependencies = {"pool": deps.POOL, "codec": deps.CODEC, "services": deps.SERVICES}

    @get("/", opt={"scope": "read"}, operation_id="readFeed", responses=documented(None, 404))
    async def feed(
        self,
        *,
        pool: deps.Injected[asyncpg.Pool],
        codec: deps.Injected[EventTypeRegistry],
        services: deps.Injected[Services],
        after: Annotated[
            int, QueryParameter(ge=0, le=MAX_POSITION, description="Position of the last event seen (0: the start)")
        ] = 0,
        cursor: Annotated[
            str | None, QueryParameter(description="`next_cursor` of the previous page (instead of `after`)")
        ] = None,
        limit: Limit = 50,
        types: Annotated[
            list[str] | None,
            QueryParameter(name="type", description="Only these event types (repeat it, or comma-separate them)"),
        ] = None,
    ) -> EventPage:
        """Committed events after ``after`` (or ``cursor``) in feed order: (transaction, position).
        Positions are unique but not always increasing along the feed; ``next_cursor`` (the last
        item's position) continues while a full page suggests more is waiting. A position that
        names no event → 404."""
        wanted = event_types(types, codec.names())
        start = position_cursor(cursor) if cursor is not None else after
        async with pool.acquire() as conn:
            with translated_errors():
                feed_cursor = await cursor_for_position(conn, start)
            records = await read_feed(conn, feed_cursor, limit, wanted)
        revealed = await reveal_records([codec.upcast_record(r) for r in records], services.subject_keys)
        items = [event_item(r) for r in revealed]
        return EventPage(items, str(records[-1].position) if len(records) == limit else None)
