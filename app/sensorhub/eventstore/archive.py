"""Archiving closed streams (PostgreSQL): their events move, as stored, from the hot ``events``
table to the cold ``events_archive`` table (migration 0011) and a tombstone row in
``archived_streams`` remains; ``restore`` moves them back. Every column keeps its value —
position, transaction id, payload (ciphertext stays ciphertext) — so the feed (hot + cold, in
``(transaction_id, position)`` order), stream reads and projection rebuilds answer exactly as
before. Appends to an archived stream are refused by the CHECK ``streams_archived_is_closed``
(the stream row's version is frozen), not by the append functions.

One call is one transaction: a batch is archived or restored whole, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from sensorhub.application.stored_events import ArchivedStream
from sensorhub.db import Conn

_COLUMNS = (
    "position, transaction_id, event_id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at"
)

# Locks the stream rows (in id order: two archivers cannot deadlock) that are not archived yet; an
# appender that holds one commits first, and its events move with the rest.
_LOCK_FOR_ARCHIVE = (
    "SELECT stream_id FROM streams WHERE stream_id = ANY($1::text[]) AND archived_version IS NULL"
    " ORDER BY stream_id FOR UPDATE"
)
_MOVE_OUT = f"""
WITH moved AS (DELETE FROM events WHERE stream_id = ANY($1::text[]) RETURNING {_COLUMNS})
INSERT INTO events_archive ({_COLUMNS}) SELECT {_COLUMNS} FROM moved
"""
_TOMBSTONES = """
WITH closed AS (
    UPDATE streams SET archived_version = version WHERE stream_id = ANY($1::text[])
    RETURNING stream_id, stream_type, version
)
INSERT INTO archived_streams (stream_id, stream_type, last_version, last_position, event_count)
SELECT c.stream_id, c.stream_type, c.version,
       coalesce((SELECT max(a.position) FROM events_archive a WHERE a.stream_id = c.stream_id), 0),
       (SELECT count(*) FROM events_archive a WHERE a.stream_id = c.stream_id)
  FROM closed c
RETURNING stream_id, stream_type, last_version, last_position, event_count, archived_at
"""
_LOCK_FOR_RESTORE = (
    "SELECT stream_id FROM streams WHERE stream_id = ANY($1::text[]) AND archived_version IS NOT NULL"
    " ORDER BY stream_id FOR UPDATE"
)
# Positions come from the events identity; restored rows keep theirs (OVERRIDING SYSTEM VALUE).
_MOVE_BACK = f"""
WITH moved AS (DELETE FROM events_archive WHERE stream_id = ANY($1::text[]) RETURNING {_COLUMNS})
INSERT INTO events ({_COLUMNS}) OVERRIDING SYSTEM VALUE SELECT {_COLUMNS} FROM moved
"""
_REOPEN = """
WITH gone AS (DELETE FROM archived_streams WHERE stream_id = ANY($1::text[]) RETURNING stream_id)
UPDATE streams s SET archived_version = NULL FROM gone WHERE s.stream_id = gone.stream_id
"""
# Streams of ``stream_type`` whose last event is one of ``closing types`` recorded before the
# cutoff, after ``after`` in id order (keyset: a run walks the streams once).
_CLOSED_BEFORE = """
SELECT s.stream_id
  FROM streams s
  JOIN events e ON e.stream_id = s.stream_id AND e.stream_version = s.version
 WHERE s.stream_type = $1 AND s.archived_version IS NULL AND s.stream_id > $4
   AND e.type = ANY ($2::text[]) AND e.recorded_at < $3
 ORDER BY s.stream_id
 LIMIT $5
"""


def _tombstone(r: asyncpg.Record) -> ArchivedStream:
    return ArchivedStream(
        r["stream_id"], r["stream_type"], r["last_version"], r["last_position"], r["event_count"], r["archived_at"]
    )


async def archive_streams(conn: Conn, stream_ids: Sequence[str]) -> list[ArchivedStream]:
    """Archive these streams (those already archived or unknown are left out), in one transaction."""
    async with conn.transaction():
        locked = [r[0] for r in await conn.fetch(_LOCK_FOR_ARCHIVE, sorted(set(stream_ids)))]
        if not locked:
            return []
        await conn.execute(_MOVE_OUT, locked)
        return [_tombstone(r) for r in await conn.fetch(_TOMBSTONES, locked)]


async def restore_streams(conn: Conn, stream_ids: Sequence[str]) -> int:
    """Move archived streams' events back to the hot table and open them again; the events moved."""
    async with conn.transaction():
        locked = [r[0] for r in await conn.fetch(_LOCK_FOR_RESTORE, sorted(set(stream_ids)))]
        if not locked:
            return 0
        status = await conn.execute(_MOVE_BACK, locked)
        await conn.execute(_REOPEN, locked)
        return int(status.rsplit(" ", 1)[-1])


async def archived(conn: Conn, stream_id: str) -> ArchivedStream | None:
    row = await conn.fetchrow(
        "SELECT stream_id, stream_type, last_version, last_position, event_count, archived_at"
        " FROM archived_streams WHERE stream_id = $1",
        stream_id,
    )
    return None if row is None else _tombstone(row)


async def closed_streams(
    conn: Conn, stream_type: str, closing_types: Sequence[str], before: datetime, *, after: str = "", limit: int
) -> list[str]:
    rows = await conn.fetch(_CLOSED_BEFORE, stream_type, list(closing_types), before, after, limit)
    return [r[0] for r in rows]


async def archived_ids(conn: Conn, stream_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT stream_id FROM archived_streams WHERE stream_id = ANY($1::text[])", list(stream_ids)
    )
    return {r[0] for r in rows}
