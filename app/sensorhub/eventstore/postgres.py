"""The PostgreSQL event store (asyncpg). Bound to a connection (to join its transaction) or a pool."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from sensorhub.application.errors import ConcurrencyError, EventIdConflict
from sensorhub.application.stored_events import (
    AppendResult,
    Expected,
    FeedCursor,
    NewEvent,
    RecordedEvent,
    Snapshot,
    StreamAppend,
    StreamEvent,
)
from sensorhub.db import Conn
from sensorhub.eventstore.feed import (
    EVENT_COLUMNS,
    cursor_for_position,
    read_feed,
    record_from_row,
)
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.observability import EVENTS_APPENDED

# Only the columns an AppendResult needs: ids, transaction ids and timestamps would be decoded for nothing.
_APPEND = (
    "SELECT stream_version, position, replayed"
    " FROM eventstore_append($1, $2, $3, $4::uuid[], $5::text[], $6::int[], $7::jsonb[], $8::jsonb[])"
)
# One event (most commands) as scalars: one-element jsonb arrays cost more to encode and parse than
# the rest of the append (migrations/functions/eventstore_append_one.sql).
_APPEND_ONE = (
    "SELECT stream_version, position, replayed"
    " FROM eventstore_append_one($1, $2, $3, $4::uuid, $5::text, $6::int, $7::jsonb, $8::jsonb)"
)
# The load path's read: no metadata, ids or timestamps to decode, and the payload as JSON text
# (decoded by the codec straight into the event class, not into a dict by the jsonb codec).
_READ_FOR_REPLAY = (
    "SELECT stream_version, position, type, schema_version, data::text FROM events"
    " WHERE stream_id = $1 AND stream_version >= $2 AND ($4::timestamptz IS NULL OR recorded_at <= $4)"
    " ORDER BY stream_version LIMIT $3"
)
_CONCURRENCY = "SH409"
_ID_CONFLICT = "SH422"


class PostgresEventStore:
    """With a ``notifier``, every append that commits here (on a pool, or on a connection outside
    a transaction) wakes the projectors after its commit. Appends inside a caller's transaction
    cannot know when it commits: that caller calls ``notifier.committed()`` itself."""

    def __init__(self, db: Conn | asyncpg.Pool, *, notifier: AppendNotifier | None = None) -> None:
        self._db = db
        self._notifier = notifier

    async def append(
        self, stream_id: str, stream_type: str, events: Sequence[NewEvent], expected: Expected = "any"
    ) -> AppendResult:
        """Append 1..n events in one round trip; raises ConcurrencyError / EventIdConflict."""
        try:
            if len(events) == 1:
                e = events[0]
                args: tuple[Any, ...] = (e.event_id, e.type, e.schema_version, e.data, e.metadata)
                rows = await self._db.fetch(_APPEND_ONE, stream_id, stream_type, str(expected), *args)
            else:
                rows = await self._db.fetch(
                    _APPEND,
                    stream_id,
                    stream_type,
                    str(expected),
                    [e.event_id for e in events],
                    [e.type for e in events],
                    [e.schema_version for e in events],
                    [e.data for e in events],
                    [e.metadata for e in events],
                )
        except asyncpg.PostgresError as exc:
            raise _translate(exc, stream_id, expected) from None
        positions = tuple(r[1] for r in rows)
        replayed: bool = rows[0][2]
        if not replayed:
            _appended_counter(stream_type).inc(len(rows))
            if self._notifier is not None and self._commits_itself():
                self._notifier.committed(positions[-1])
        return AppendResult(
            stream_id=stream_id,
            version=rows[-1][0],
            position=positions[-1],
            positions=positions,
            replayed=replayed,
        )

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """All or nothing across streams (one transaction, or a savepoint inside the caller's)."""
        if len(appends) == 1:
            a = appends[0]
            return [await self.append(a.stream_id, a.stream_type, a.events, a.expected)]
        async with self._connection() as conn:
            async with conn.transaction():
                store = PostgresEventStore(conn)  # no notifier: its appends commit below
                results = [await store.append(a.stream_id, a.stream_type, a.events, a.expected) for a in appends]
            if self._notifier is not None and not conn.is_in_transaction():
                written = [r.position for r in results if not r.replayed]
                if written:
                    self._notifier.committed(max(written))
            return results

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int = 1,
        limit: int | None = None,
        backwards: bool = False,
        until: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Forward from ``from_version`` (or backward from it, newest first); ``until`` keeps the
        prefix of events recorded at or before that time (time travel)."""
        op, order = ("<=", "DESC") if backwards else (">=", "ASC")
        rows = await self._db.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version {op} $2"
            f" AND ($4::timestamptz IS NULL OR recorded_at <= $4) ORDER BY stream_version {order} LIMIT $3",
            stream_id,
            from_version,
            limit,
            until,
        )
        return [record_from_row(r) for r in rows]

    async def read_for_replay(
        self, stream_id: str, *, from_version: int = 1, limit: int | None = None, until: datetime | None = None
    ) -> list[StreamEvent]:
        rows = await self._db.fetch(_READ_FOR_REPLAY, stream_id, from_version, limit, until)
        return [StreamEvent(*r) for r in rows]

    async def stream_version(self, stream_id: str) -> int:
        version = await self._db.fetchval("SELECT version FROM streams WHERE stream_id = $1", stream_id)
        return int(version or 0)

    async def read_feed(
        self, after: FeedCursor, limit: int = 100, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        async with self._connection() as conn:
            return await read_feed(conn, after, limit, types)

    async def cursor_for_position(self, position: int) -> FeedCursor:
        async with self._connection() as conn:
            return await cursor_for_position(conn, position)

    async def load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None:
        row = await self._db.fetchrow(
            "SELECT stream_type, stream_version, position, state FROM snapshots"
            " WHERE stream_id = $1 AND schema_version = $2",
            stream_id,
            schema_version,
        )
        if row is None:
            return None
        return Snapshot(
            stream_id,
            row["stream_type"],
            schema_version,
            row["stream_version"],
            row["position"],
            row["state"],
        )

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep the newest snapshot per stream and schema version."""
        await self._db.execute(
            "INSERT INTO snapshots AS s"
            " (stream_id, schema_version, stream_type, stream_version, position, state)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (stream_id, schema_version) DO UPDATE SET stream_version = excluded.stream_version,"
            " position = excluded.position, state = excluded.state, recorded_at = now()"
            " WHERE s.stream_version < excluded.stream_version",
            snapshot.stream_id,
            snapshot.schema_version,
            snapshot.stream_type,
            snapshot.stream_version,
            snapshot.position,
            snapshot.state,
        )

    def _commits_itself(self) -> bool:
        """True when a statement run on ``self._db`` commits on its own (no open transaction)."""
        return isinstance(self._db, asyncpg.Pool) or not self._db.is_in_transaction()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        if isinstance(self._db, asyncpg.Pool):
            async with self._db.acquire() as conn:
                yield conn
        else:
            yield self._db


@functools.cache
def _appended_counter(stream_type: str) -> Any:
    """The labelled counter child, looked up once per stream type (``labels()`` costs a lock and
    a few microseconds on every append otherwise)."""
    return EVENTS_APPENDED.labels(stream_type=stream_type)


def _translate(exc: asyncpg.PostgresError, stream_id: str, expected: Expected) -> Exception:
    code = getattr(exc, "sqlstate", None)
    if code == _CONCURRENCY:
        return ConcurrencyError(stream_id, expected, int(getattr(exc, "detail", None) or 0))
    if code == _ID_CONFLICT or (
        isinstance(exc, asyncpg.UniqueViolationError) and getattr(exc, "constraint_name", None) == "events_event_id_key"
    ):
        return EventIdConflict(
            f"an event id in this append to {stream_id} is already stored with different content "
            "(or in another stream); give new events new ids"
        )
    return exc
