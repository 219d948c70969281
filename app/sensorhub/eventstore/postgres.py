"""The PostgreSQL event store (asyncpg). Bound to a connection (to join its transaction) or a pool."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from sensorhub.application.errors import (
    AppendConditionFailed,
    ConcurrencyError,
    EventIdConflict,
    StreamArchived,
    TransientWriteError,
)
from sensorhub.application.stored_events import (
    AppendCondition,
    AppendResult,
    ArchivedStream,
    Expected,
    FeedCursor,
    MatchingEvents,
    NewEvent,
    QueryItem,
    RecordedEvent,
    Snapshot,
    StreamAppend,
    StreamEvent,
    expectation_met,
)
from sensorhub.db import Conn, array_literal
from sensorhub.eventstore import archive
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
# The common append, one event at an exact expected version, as one plain SQL statement (no
# PL/pgSQL): the stream row's UPDATE whose WHERE is the expectation claims the version and takes the
# row lock (for a new stream, the INSERT of its row: its primary key decides between racing
# creators), and the event is inserted only when the claim went through and its id is not stored
# yet. No row back means something unusual (a missed expectation, a stored id: a replay or a
# conflict, or a racing writer that got there first) and decides nothing: the statement wrote
# nothing, and eventstore_append_one (then eventstore_append_checked) decides, in a new snapshot.
# Parameters: stream id, expected version (_APPEND_AT) or stream type (_APPEND_NEW), then the event.
#
# The id probe (_ID_PROBE, an index descent of events_event_id_key at a random uuid: ~10 % of the
# statement's server time) is there only for an append inside the caller's transaction, which a
# unique violation would abort. A statement that commits on its own (on the pool, the common case)
# is sent without it (_UNPROBED): a stored id then fails the insert on the unique index, which
# rolls the whole statement back — nothing written, as with the probe — and the functions decide.
_ID_PROBE = " AND NOT EXISTS (SELECT FROM events e WHERE e.event_id = $3)"
_INSERT_CLAIMED = (
    " INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
    " SELECT $3, $1, c.version, $4, $5, $6, $7 FROM claim c RETURNING position"
)
_CLAIM_AT = "WITH claim AS (UPDATE streams AS s SET version = $2 + 1 WHERE s.stream_id = $1 AND s.version = $2"
_APPEND_AT = _CLAIM_AT + _ID_PROBE + " RETURNING s.version)" + _INSERT_CLAIMED
_APPEND_AT_UNPROBED = _CLAIM_AT + " RETURNING s.version)" + _INSERT_CLAIMED
_APPEND_NEW = (
    "WITH claim AS (INSERT INTO streams AS s (stream_id, stream_type, version)"
    " VALUES ($1, $2, 1) ON CONFLICT (stream_id) DO NOTHING RETURNING s.version)" + _INSERT_CLAIMED
)
# The same for one tagged event and a condition of at most one item with one tag (issue 17), one
# statement, no PL/pgSQL. The tag locks (the event's tags shared, the condition's tag exclusive,
# each once, in key order: eventstore_lock_tags.sql says why that is safe) are taken while the
# statement's parameters are bound: $8 is typed as a domain whose CHECK takes them
# (migrations/0014_tag_lock_domains.sql). Binding comes before execution, and execution takes the
# statement's snapshot, so that snapshot already sees every event of a writer the locks waited for,
# and the condition is checked in the statement itself (one index probe of event_tags' primary key,
# before the claim locks the stream row). A candidate match (a true one, or the append's own event
# when it is a retry) makes the statement write nothing, and the functions decide: replay, or SH412
# with its DETAIL. No row back: the functions decide, as above. Parameters: as above, then $8 the
# locks: the one tag (_APPEND_ONE_TAG*: the event's only tag, which is also the condition's, or no
# condition), an eventstore_tag_pair (_APPEND_PAIR_CHECKED: the condition's tag, then the event's
# other tag) or an eventstore_tag_locks array (_APPEND_TAGS*: the condition's tag or NULL, then the
# event's distinct tags); with a condition, $9 its types (an array literal, never empty) and $10 its
# position. $8 must keep its domain type: cast from text, the CHECK would run after the snapshot.
_TAG_ONE_SHARED = "$8::eventstore_tag_shared"
_TAG_ONE_EXCLUSIVE = "$8::eventstore_tag_exclusive"
_TAG_LOCKS = "$8::eventstore_tag_locks"


def _condition_clear(tag: str) -> str:
    return (
        f"NOT EXISTS (SELECT FROM event_tags t WHERE t.tag = {tag}"
        " AND t.type = ANY ($9::text::text[]) AND t.position > $10::bigint)"
    )


def _tagged_statements(tag: str | None, tags: str, check: str | None) -> tuple[str, str, str]:
    """(at an exact version with the id probe, the same without it, a new stream) for one way of
    passing the tags: ``tag`` what to insert when the event has one tag (else ``tags``, a set
    expression), ``check`` the condition (None: no condition; the locks are taken anyway)."""
    insert = (
        " , inserted AS (INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)"
        " SELECT $3, $1, c.version, $4, $5, $6, $7 FROM claim c RETURNING position),"
        " tagged AS (INSERT INTO event_tags (tag, type, position)"
        + (
            f" SELECT {tag}, $4, i.position FROM inserted i)"
            if tag is not None
            else f" SELECT t.tag, $4, i.position FROM inserted i CROSS JOIN {tags} AS t(tag))"
        )
        + " SELECT position FROM inserted"
    )
    # the lock parameter must appear in the statement even without a condition (its type is the point)
    where = check if check is not None else f"{tag if tag is not None else _TAG_LOCKS} IS NOT NULL"
    at = _CLAIM_AT + f" AND {where}"
    new = (
        "WITH claim AS (INSERT INTO streams AS s (stream_id, stream_type, version)"
        f" SELECT $1, $2, 1 WHERE {where}"
        " ON CONFLICT (stream_id) DO NOTHING RETURNING s.version)"
    )
    return (
        at + _ID_PROBE + " RETURNING s.version)" + insert,
        at + " RETURNING s.version)" + insert,
        new + insert,
    )


_APPEND_ONE_TAG = _tagged_statements(_TAG_ONE_SHARED, "", None)
_APPEND_ONE_TAG_CHECKED = _tagged_statements(_TAG_ONE_EXCLUSIVE, "", _condition_clear(_TAG_ONE_EXCLUSIVE))
_EVENT_TAGS = f"unnest(({_TAG_LOCKS})[2:])"
_APPEND_TAGS = _tagged_statements(None, _EVENT_TAGS, None)
_APPEND_TAGS_CHECKED = _tagged_statements(None, _EVENT_TAGS, _condition_clear(f"({_TAG_LOCKS})[1]"))
# A rename's shape: the event's two tags, the condition on one of them ($8: that one, then the other).
_TAG_PAIR = "$8::eventstore_tag_pair"
_APPEND_PAIR_CHECKED = _tagged_statements(None, f"unnest({_TAG_PAIR})", _condition_clear(f"({_TAG_PAIR})[1]"))
# Events with tags, or an append with a condition (migrations/functions/eventstore_append*_tagged.sql).
_APPEND_TAGGED = (
    "SELECT stream_version, position, replayed FROM eventstore_append_tagged($1, $2, $3, $4::uuid[],"
    " $5::text[], $6::int[], $7::jsonb[], $8::jsonb[], $9::int[], $10::text[], $11::jsonb, $12::bigint)"
)
_APPEND_ONE_TAGGED = (
    "SELECT stream_version, position, replayed FROM eventstore_append_one_tagged($1, $2, $3, $4::uuid, $5::text,"
    " $6::int, $7::jsonb, $8::jsonb, $9::text[], $10::text[], $11::text[], $12::bigint)"
)
# append_many's first statement when any share has tags or there is a condition: every lock, the check.
_PREPARE = "SELECT eventstore_prepare_append($1::text[], $2::jsonb, $3::bigint, $4::uuid[])"
_READ_MATCHING = f"SELECT {EVENT_COLUMNS} FROM eventstore_read_matching($1::jsonb)"
# The load path's read: no metadata, ids or timestamps to decode, and the payload as JSON text
# (decoded by the codec straight into the event class, not into a dict by the jsonb codec).
# Hot + cold: an archived stream's events are in ``events_archive`` (all of them: a stream is
# archived whole), so one statement reads both; for a hot stream the archive branch is one empty
# index probe.
_READ_FOR_REPLAY = (
    "SELECT stream_version, position, type, schema_version, data::text FROM ("
    " (SELECT stream_version, position, type, schema_version, data FROM events"
    "  WHERE stream_id = $1 AND stream_version >= $2 AND ($4::timestamptz IS NULL OR recorded_at <= $4)"
    "  ORDER BY stream_version LIMIT $3)"
    " UNION ALL"
    " (SELECT stream_version, position, type, schema_version, data FROM events_archive"
    "  WHERE stream_id = $1 AND stream_version >= $2 AND ($4::timestamptz IS NULL OR recorded_at <= $4)"
    "  ORDER BY stream_version LIMIT $3)"
    ") e ORDER BY e.stream_version LIMIT $3"
)
_STREAM_BRANCH = (
    "(SELECT position, transaction_id, event_id, stream_id, stream_version, type, schema_version, data,"
    " metadata, recorded_at FROM {table} WHERE stream_id = $1 AND stream_version {op} $2"
    " AND ($4::timestamptz IS NULL OR recorded_at <= $4) ORDER BY stream_version {order} LIMIT $3)"
)
# An append of no events writes nothing: it checks the expectation against the stream row (held
# with FOR SHARE until the end of a surrounding transaction) and answers with the last event.
_STREAM_HEAD = (
    "SELECT s.version, coalesce(e.position, a.position) FROM streams s"
    " LEFT JOIN events e ON e.stream_id = s.stream_id AND e.stream_version = s.version"
    " LEFT JOIN events_archive a ON a.stream_id = s.stream_id AND a.stream_version = s.version"
    " WHERE s.stream_id = $1 FOR SHARE OF s"
)
_NEWEST = 2**63 - 1  # read_stream(backwards=True) without from_version: from the last event
_CONCURRENCY = "SH409"
_CONDITION = "SH412"
_ID_CONFLICT = "SH422"
_ARCHIVED = "streams_archived_is_closed"  # migration 0011: an archived stream's version is frozen
# Deadlock, serialization failure: PostgreSQL rolled the transaction back; a retry is safe.
_TRANSIENT = frozenset({"40P01", "40001"})


class PostgresEventStore:
    """With a ``notifier``, every append that commits here (on a pool, or on a connection outside
    a transaction) wakes the projectors after its commit. Appends inside a caller's transaction
    cannot know when it commits: that caller calls ``notifier.committed()`` itself."""

    def __init__(self, db: Conn | asyncpg.Pool, *, notifier: AppendNotifier | None = None) -> None:
        self._db = db
        self._notifier = notifier

    async def append(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[NewEvent],
        expected: Expected = "any",
        condition: AppendCondition | None = None,
    ) -> AppendResult:
        """Append 1..n events in one round trip; raises ConcurrencyError / EventIdConflict, and
        AppendConditionFailed when an event matching ``condition`` was stored after its position.
        No events: only the expectation is checked, nothing is written (``positions`` is empty)."""
        if len(events) == 1 and (condition is None or len(condition.items) == 1):
            e = events[0]
            if (type(expected) is int and expected >= 0) or expected == "no_stream":
                position = await self._append_claimed(stream_id, stream_type, e, expected, condition)
                if position is not None:
                    version = expected + 1 if isinstance(expected, int) else 1
                    _appended_counter(stream_type).inc(1)
                    if self._notifier is not None and self._commits_itself():
                        self._notifier.committed(position)
                    return AppendResult(stream_id, version, position, (position,))
        try:
            if not events:
                if condition is not None:
                    return (await self.append_many([StreamAppend(stream_id, stream_type, (), expected)], condition))[0]
                return await self._append_nothing(stream_id, expected)
            rows = await self._append_rows(stream_id, stream_type, events, str(expected), condition)
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

    async def append_many(
        self, appends: Sequence[StreamAppend], condition: AppendCondition | None = None
    ) -> list[AppendResult]:
        """All or nothing across streams (one transaction, or a savepoint inside the caller's).
        Results come in the order of ``appends``. The streams are locked in stream id order, so two
        calls naming the same streams in different orders cannot deadlock; a deadlock with other
        work in the caller's transaction raises TransientWriteError (nothing written: retry).
        ``condition`` guards the whole append (see ``append``)."""
        if len(appends) == 1 and (condition is None or appends[0].events):
            a = appends[0]
            return [await self.append(a.stream_id, a.stream_type, a.events, a.expected, condition)]
        order = sorted(range(len(appends)), key=lambda i: appends[i].stream_id)
        results: list[AppendResult | None] = [None] * len(appends)
        every = [e for a in appends for e in a.events]
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    store = PostgresEventStore(conn)  # no notifier: its appends commit below
                    if condition is not None or any(e.tags for e in every):
                        # every tag lock first, in key order, then the check: before any stream row lock
                        await conn.execute(
                            _PREPARE,
                            sorted({t for e in every for t in e.tags}),
                            _condition_items(condition),
                            condition.after if condition is not None else 0,
                            [e.event_id for e in every],
                        )
                    for i in order:
                        a = appends[i]
                        results[i] = await store.append(a.stream_id, a.stream_type, a.events, a.expected)
            except asyncpg.PostgresError as exc:  # raised by the commit itself
                raise _translate(exc, appends[0].stream_id, appends[0].expected) from None
            done = [r for r in results if r is not None]
            if self._notifier is not None and not conn.is_in_transaction():
                written = [r.position for r in done if r.positions and not r.replayed]
                if written:
                    self._notifier.committed(max(written))
            return done

    async def read_matching(self, items: Sequence[QueryItem]) -> MatchingEvents:
        """The events matching any of ``items``, oldest first, and the position to use as an
        ``AppendCondition``'s ``after``. Waits for writers of those tags that are still open (see
        migrations/functions/eventstore_lock_tags.sql): nothing matching can appear at or below it later."""
        rows = await self._db.fetch(_READ_MATCHING, _condition_items(AppendCondition(tuple(items), 0)))
        events = [record_from_row(r) for r in rows]
        return MatchingEvents(events, events[-1].position if events else 0)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        until: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Forward from ``from_version`` (default: the first event), or backward from it (default:
        the newest event), newest first; ``until`` keeps the prefix of events recorded at or
        before that time (time travel)."""
        op, order = ("<=", "DESC") if backwards else (">=", "ASC")
        if from_version is None:
            from_version = _NEWEST if backwards else 1
        branches = " UNION ALL ".join(
            _STREAM_BRANCH.format(table=t, op=op, order=order) for t in ("events", "events_archive")
        )
        rows = await self._db.fetch(
            f"SELECT {EVENT_COLUMNS} FROM ({branches}) e ORDER BY e.stream_version {order} LIMIT $3",
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

    async def _append_claimed(
        self, stream_id: str, stream_type: str, e: NewEvent, expected: Expected, condition: AppendCondition | None
    ) -> int | None:
        """The plain-SQL fast path (``_APPEND_AT``, ``_APPEND_NEW``, with tags or a condition
        ``_APPEND_ONE_TAG*`` / ``_APPEND_PAIR_CHECKED`` / ``_APPEND_TAGS*``): the new event's position, or None when the
        statement wrote nothing (or was not sent) and the append functions must decide."""
        at = type(expected) is int and expected > 0
        alone = self._commits_itself()  # no id probe needed (see _ID_PROBE)
        args: tuple[Any, ...] = (
            stream_id,
            expected if at else stream_type,
            e.event_id,
            e.type,
            e.schema_version,
            e.data,
            e.metadata,
        )
        tags = e.tags
        if condition is None and not tags:
            sql = (_APPEND_AT_UNPROBED if alone else _APPEND_AT) if at else _APPEND_NEW
        else:
            one = tags[0] if len(tags) == 1 or (tags and len(set(tags)) == 1) else None
            if condition is None:
                statements = _APPEND_ONE_TAG if one is not None else _APPEND_TAGS
                args += (one if one is not None else [None, *dict.fromkeys(tags)],)
            else:
                item = condition.items[0]
                if len(item.tags) != 1 or not item.types:
                    return None  # several tags to intersect, or any type: the functions check
                checked = item.tags[0]
                if one is not None and checked == one:
                    statements, lock = _APPEND_ONE_TAG_CHECKED, one
                else:
                    distinct = list(dict.fromkeys(tags))
                    if len(distinct) == 2 and checked in distinct:
                        other = distinct[1] if distinct[0] == checked else distinct[0]
                        statements, lock = _APPEND_PAIR_CHECKED, [checked, other]
                    else:
                        statements, lock = _APPEND_TAGS_CHECKED, [checked, *distinct]
                args += (lock, _types_literal(item.types), condition.after)
            sql = statements[(1 if alone else 0) if at else 2]
        try:
            return await self._db.fetchval(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            if alone and getattr(exc, "constraint_name", None) == "events_event_id_key":
                return None  # the statement was rolled back: the functions decide (replay or conflict)
            raise _translate(exc, stream_id, expected) from None
        except asyncpg.PostgresError as exc:
            raise _translate(exc, stream_id, expected) from None

    async def archive_streams(self, stream_ids: Sequence[str]) -> list[ArchivedStream]:
        """Move these streams' events to the archive (one transaction); their tombstones. Streams
        already archived or unknown are left out. Only for closed streams without tags (alerts):
        appends to them are refused until ``restore_streams``."""
        async with self._connection() as conn:
            return await archive.archive_streams(conn, stream_ids)

    async def restore_streams(self, stream_ids: Sequence[str]) -> int:
        """Bring archived streams back to the hot table, positions unchanged; the events moved."""
        async with self._connection() as conn:
            return await archive.restore_streams(conn, stream_ids)

    async def archived(self, stream_id: str) -> ArchivedStream | None:
        """The stream's tombstone, None when it is not archived."""
        async with self._connection() as conn:
            return await archive.archived(conn, stream_id)

    async def closed_streams(
        self, stream_type: str, closing_types: Sequence[str], before: datetime, *, after: str = "", limit: int = 500
    ) -> list[str]:
        """Ids (ascending, after ``after``) of unarchived streams of ``stream_type`` whose last event
        is one of ``closing_types`` recorded before ``before``: what an archiving run may move."""
        async with self._connection() as conn:
            return await archive.closed_streams(conn, stream_type, closing_types, before, after=after, limit=limit)

    async def _append_rows(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[NewEvent],
        expected: str,
        condition: AppendCondition | None,
    ) -> list[asyncpg.Record]:
        """The append function for these events: plain or tagged, one event as scalars or many as arrays."""
        if len(events) == 1 and (events[0].tags or condition) and (condition is None or len(condition.items) == 1):
            e = events[0]
            item = condition.items[0] if condition is not None else None
            return await self._db.fetch(
                _APPEND_ONE_TAGGED,
                stream_id,
                stream_type,
                expected,
                e.event_id,
                e.type,
                e.schema_version,
                e.data,
                e.metadata,
                list(e.tags),
                list(item.types) if item is not None else None,
                list(item.tags) if item is not None else None,
                condition.after if condition is not None else 0,
            )
        if condition is not None or any(e.tags for e in events):
            tag_events, tags = _flat_tags(events)
            return await self._db.fetch(
                _APPEND_TAGGED,
                stream_id,
                stream_type,
                expected,
                *_event_arrays(events),
                tag_events,
                tags,
                _condition_items(condition),
                condition.after if condition is not None else 0,
            )
        if len(events) == 1:
            e = events[0]
            args: tuple[Any, ...] = (e.event_id, e.type, e.schema_version, e.data, e.metadata)
            return await self._db.fetch(_APPEND_ONE, stream_id, stream_type, expected, *args)
        return await self._db.fetch(_APPEND, stream_id, stream_type, expected, *_event_arrays(events))

    async def _append_nothing(self, stream_id: str, expected: Expected) -> AppendResult:
        row = await self._db.fetchrow(_STREAM_HEAD, stream_id)
        version, position = (int(row[0]), int(row[1] or 0)) if row is not None else (0, 0)
        if not expectation_met(expected, version):
            raise ConcurrencyError(stream_id, expected, version)
        return AppendResult(stream_id=stream_id, version=version, position=position, positions=())

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


@functools.lru_cache(maxsize=256)
def _cached_literal(types: tuple[str, ...]) -> str:
    return array_literal(types)


def _types_literal(types: Sequence[str]) -> str:
    """A condition's types as one array literal (a ``$n::text::text[]`` parameter): conditions reuse
    a few type lists, so the literal is built once per list (asyncpg encodes a list parameter
    element by element, ~4 µs each)."""
    return _cached_literal(types) if type(types) is tuple else array_literal(types)


def _event_arrays(events: Sequence[NewEvent]) -> tuple[list[Any], ...]:
    """The events as the append functions' parallel arrays: ids, types, schema versions, data, metadata."""
    return (
        [e.event_id for e in events],
        [e.type for e in events],
        [e.schema_version for e in events],
        [e.data for e in events],
        [e.metadata for e in events],
    )


def _flat_tags(events: Sequence[NewEvent]) -> tuple[list[int], list[str]]:
    """Tags as two parallel arrays: the (1-based) event each belongs to, and the tag."""
    pairs = [(i, tag) for i, e in enumerate(events, start=1) for tag in e.tags]
    return [i for i, _ in pairs], [t for _, t in pairs]


def _condition_items(condition: AppendCondition | None) -> list[dict[str, list[str]]] | None:
    if condition is None:
        return None
    return [{"types": list(item.types), "tags": list(item.tags)} for item in condition.items]


def _translate(exc: asyncpg.PostgresError, stream_id: str, expected: Expected) -> Exception:
    code = getattr(exc, "sqlstate", None)
    if code in _TRANSIENT:
        return TransientWriteError(
            f"PostgreSQL aborted the append to {stream_id} ({exc.__class__.__name__}: {exc}); "
            "nothing was written, run the command again"
        )
    if isinstance(exc, asyncpg.CheckViolationError) and getattr(exc, "constraint_name", None) == _ARCHIVED:
        return StreamArchived(stream_id)
    if code == _CONDITION:
        position, event_type, after, tag = str(getattr(exc, "detail", None) or "0|||").split("|", 3)
        return AppendConditionFailed(int(position), event_type, tag, int(after or 0))
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
