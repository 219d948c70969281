"""The gap-safe global feed, as plain functions on a connection.

A projector calls :func:`read_feed` on its own connection inside its own
transaction, so it can write read models and its checkpoint atomically, and
keeps the returned events' ``cursor`` (transaction id, position) as checkpoint.

Why it is gap-safe: positions come from a sequence *before* commit, so a later
position can commit first. Each event stores the id of its writing transaction
(``pg_current_xact_id()``); the feed returns only events whose transaction id is
below ``pg_snapshot_xmin(pg_current_snapshot())`` — every such transaction has
ended, so nothing can appear below that horizon any more — ordered by
(transaction id, position). Reading in the caller's transaction is safe: after
the caller's own first write its own transaction id caps the horizon, which
only delays events, never skips them.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from sensorhub.application.errors import UnknownPosition
from sensorhub.application.stored_events import FeedCursor, RecordedEvent
from sensorhub.db import Conn

EVENT_COLUMNS = (
    "event_id, stream_id, stream_version, position, transaction_id::text AS transaction_id,"
    " type, schema_version, data, metadata, recorded_at"
)

# ``EVENT_COLUMNS`` returns ``transaction_id::text AS transaction_id``, and an ORDER BY on a bare
# name binds to an output column before a table column: ``ORDER BY transaction_id`` would sort
# the *text* ("1000" < "999") and the cursor would jump past events whenever transaction ids
# gain a digit. Always qualify the columns (``e.``) in ORDER BY.
# Hot + cold: archived events (``events_archive``, see ``eventstore.archive``) keep their position and
# transaction id, so the feed merges both tables' (transaction_id, position) indexes and nothing is
# skipped or renumbered. Each branch is limited first (a Merge Append of two index scans).
_FEED_BRANCH = """
SELECT e.position, e.transaction_id, e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version,
       e.data, e.metadata, e.recorded_at
  FROM {table} e
 WHERE (e.transaction_id, e.position) > ($1::text::xid8, $2::bigint)
   AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
   AND ($4::text[] IS NULL OR e.type = ANY ($4::text[]))
 ORDER BY e.transaction_id, e.position
 LIMIT $3
"""
_READ_FEED = f"""
SELECT {EVENT_COLUMNS}
  FROM (({_FEED_BRANCH.format(table="events")}) UNION ALL ({_FEED_BRANCH.format(table="events_archive")})) e
 ORDER BY e.transaction_id, e.position
 LIMIT $3
"""
_HEAD_BRANCH = """
SELECT e.transaction_id, e.position FROM {table} e
 WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY e.transaction_id DESC, e.position DESC LIMIT 1
"""
_HEAD = f"""
SELECT h.position
  FROM (({_HEAD_BRANCH.format(table="events")}) UNION ALL ({_HEAD_BRANCH.format(table="events_archive")})) h
 ORDER BY h.transaction_id DESC, h.position DESC LIMIT 1
"""
_TRANSACTION_OF = (
    "SELECT transaction_id::text FROM events WHERE position = $1"
    " UNION ALL SELECT transaction_id::text FROM events_archive WHERE position = $1 LIMIT 1"
)


async def read_feed(
    conn: Conn,
    after: FeedCursor,
    limit: int = 100,
    types: Sequence[str] | None = None,
) -> list[RecordedEvent]:
    """Up to ``limit`` committed events after ``after``, in feed order; ``types`` filters by name."""
    rows = await conn.fetch(
        _READ_FEED, str(after.transaction_id), after.position, limit, list(types) if types else None
    )
    return [record_from_row(r) for r in rows]


async def feed_head(conn: Conn) -> int:
    """The position of the last event the feed has now (0: none yet). Every event the feed shows
    later comes after it in feed order: its transaction is still running, or has not started."""
    return await conn.fetchval(_HEAD) or 0


async def cursor_for_position(conn: Conn, position: int) -> FeedCursor:
    """The feed cursor of the event at ``position`` (0 = the start of the feed).

    A position received from the feed (or a command response) names exactly one
    event and hence one transaction, so ``after=<position>`` is as gap-safe as
    the pair cursor: it means "after that event, in feed order".
    """
    if position <= 0:
        return FeedCursor.start()
    tx = await conn.fetchval(_TRANSACTION_OF, position)
    if tx is None:
        raise UnknownPosition(
            f"no event has position {position}; pass a position returned by the feed or a command (or 0 for the start)"
        )
    return FeedCursor(int(tx), position)


def record_from_row(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        event_id=row["event_id"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        position=row["position"],
        transaction_id=int(row["transaction_id"]),
        type=row["type"],
        schema_version=row["schema_version"],
        data=row["data"],
        metadata=row["metadata"],
        recorded_at=row["recorded_at"],
    )
