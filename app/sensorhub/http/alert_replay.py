"""What an alert stream client missed: after a reconnect with ``Last-Event-ID`` (the position of
the last change it saw), the alert changes since then, from the event store, in feed order and
in the shape the live stream sends (``{type, position, alert}``, ``alert`` as of that change)."""

from __future__ import annotations

from typing import Any

import msgspec

from sensorhub.application.errors import UnknownPosition
from sensorhub.db import Conn
from sensorhub.domain.alert_events import AlertAcknowledged, AlertAutoResolved, AlertRaised, AlertResolved
from sensorhub.eventstore.feed import cursor_for_position, feed_head, read_feed
from sensorhub.http.views import alert_from_state
from sensorhub.runtime import UnitOfWorkFactory

ALERT_EVENT_TYPES = tuple(t.__name__ for t in (AlertRaised, AlertAcknowledged, AlertResolved, AlertAutoResolved))
MAX_REPLAY = 1000  # a client further behind reloads the list instead (the stream says so)


def last_event_id(header: str | None) -> int | None:
    """The position in ``Last-Event-ID``; None when absent or not one this stream sent."""
    value = (header or "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


async def replay_start(conn: Conn, unit_of_work: UnitOfWorkFactory, after: int | None) -> tuple[int, list[bytes]]:
    """Where a new connection starts: the changes missed since ``after`` (the client's
    ``Last-Event-ID``) and the ``id`` to announce first. A client without one gets the feed's head:
    a reconnect before its first alert then replays what came meanwhile instead of losing it."""
    if after is None:
        return await feed_head(conn), []
    return after, await missed_changes(conn, unit_of_work, after)


async def missed_changes(conn: Conn, unit_of_work: UnitOfWorkFactory, after: int) -> list[bytes]:
    """Up to ``MAX_REPLAY`` alert changes after position ``after`` (none when it names no event)."""
    try:
        cursor = await cursor_for_position(conn, after)
    except UnknownPosition:
        return []
    records = await read_feed(conn, cursor, MAX_REPLAY, ALERT_EVENT_TYPES)
    out: list[bytes] = []
    async with unit_of_work(None) as uow:
        for record in records:
            alert = await uow.alerts.load_as_of(record.stream_id, version=record.stream_version)
            if alert is None:
                continue
            view = alert_from_state(alert.state, alert.version, record.position)
            change: dict[str, Any] = {"type": record.type, "position": record.position, "alert": view}
            out.append(msgspec.json.encode(change))
    return out
