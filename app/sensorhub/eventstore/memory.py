"""An in-memory event store for unit tests. It passes the same contract suite as PostgreSQL.

Each append is one "transaction" that commits at once, so commit order equals
position order and the feed has no horizon to respect.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sensorhub.application.errors import (
    AppendConditionFailed,
    ConcurrencyError,
    EventIdConflict,
    StreamArchived,
    UnknownPosition,
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


class InMemoryEventStore:
    def __init__(self) -> None:
        self._events: list[RecordedEvent] = []
        self._by_id: dict[object, RecordedEvent] = {}
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._snapshots: dict[tuple[str, int], Snapshot] = {}
        self._tags: dict[int, frozenset[str]] = {}  # position -> the event's tags
        self._transactions = itertools.count(1000)
        self._archived: dict[str, ArchivedStream] = {}  # tombstones; the events stay where they are
        self._stream_types: dict[str, str] = {}

    async def append(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[NewEvent],
        expected: Expected = "any",
        condition: AppendCondition | None = None,
    ) -> AppendResult:
        return (await self.append_many([StreamAppend(stream_id, stream_type, tuple(events), expected)], condition))[0]

    async def append_many(
        self, appends: Sequence[StreamAppend], condition: AppendCondition | None = None
    ) -> list[AppendResult]:
        if condition is not None:  # checked first, as PostgreSQL does (under the tags' locks)
            own = {e.event_id for a in appends for e in a.events}
            for event in self._matching(condition.items, condition.after):
                if event.event_id not in own:
                    tag = next(t for item in condition.items for t in item.tags if t in self._tags[event.position])
                    raise AppendConditionFailed(event.position, event.type, tag, condition.after)
        for a in appends:  # check everything first: all or nothing
            self._append(a, check_only=True)
        return [self._append(a, check_only=False) for a in appends]

    async def read_matching(self, items: Sequence[QueryItem]) -> MatchingEvents:
        events = self._matching(items, 0)
        return MatchingEvents(events, events[-1].position if events else 0)

    def _matching(self, items: Sequence[QueryItem], after: int) -> list[RecordedEvent]:
        def matches(e: RecordedEvent, item: QueryItem) -> bool:
            return (not item.types or e.type in item.types) and set(item.tags) <= self._tags.get(e.position, set())

        return [e for e in self._events[after:] if any(matches(e, item) for item in items)]

    def _append(self, a: StreamAppend, *, check_only: bool) -> AppendResult:
        stream = self._streams.get(a.stream_id, [])
        if not a.events:  # checks the expectation, writes nothing
            if not expectation_met(a.expected, len(stream)):
                raise ConcurrencyError(a.stream_id, a.expected, len(stream))
            return AppendResult(a.stream_id, len(stream), stream[-1].position if stream else 0, ())
        if a.stream_id in self._archived:  # as PostgreSQL: the frozen version, or a missed expectation
            if expectation_met(a.expected, len(stream)):
                raise StreamArchived(a.stream_id)
            raise ConcurrencyError(a.stream_id, a.expected, len(stream))
        known = [self._by_id[e.event_id] for e in a.events if e.event_id in self._by_id]
        if known:
            same = len(known) == len(a.events) and all(
                k.stream_id == a.stream_id
                and (k.type, k.schema_version, k.data, k.metadata) == (e.type, e.schema_version, e.data, e.metadata)
                for k, e in zip(known, a.events, strict=True)
            )
            if not same:
                raise EventIdConflict(f"an event id in this append to {a.stream_id} is already stored")
            return AppendResult(
                a.stream_id,
                known[-1].stream_version,
                known[-1].position,
                tuple(k.position for k in known),
                True,
            )
        actual = len(stream)
        if not expectation_met(a.expected, actual):
            raise ConcurrencyError(a.stream_id, a.expected, actual)
        if check_only:
            return AppendResult(a.stream_id, actual, 0, ())
        tx = next(self._transactions)
        now = datetime.now(UTC)
        recorded = [
            RecordedEvent(
                event_id=e.event_id,
                stream_id=a.stream_id,
                stream_version=actual + i,
                position=len(self._events) + i,
                transaction_id=tx,
                type=e.type,
                schema_version=e.schema_version,
                data=e.data,
                metadata=e.metadata,
                recorded_at=now,
            )
            for i, e in enumerate(a.events, start=1)
        ]
        self._events.extend(recorded)
        self._stream_types.setdefault(a.stream_id, a.stream_type)
        self._streams.setdefault(a.stream_id, []).extend(recorded)
        self._by_id.update((r.event_id, r) for r in recorded)
        self._tags.update((r.position, frozenset(e.tags)) for r, e in zip(recorded, a.events, strict=True) if e.tags)
        return AppendResult(
            a.stream_id,
            recorded[-1].stream_version,
            recorded[-1].position,
            tuple(r.position for r in recorded),
        )

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        until: datetime | None = None,
    ) -> list[RecordedEvent]:
        stream = self._streams.get(stream_id, [])
        if backwards:
            newest = len(stream) if from_version is None else from_version
            chosen = [e for e in reversed(stream) if e.stream_version <= newest]
        else:
            chosen = [e for e in stream if e.stream_version >= (from_version or 1)]
        if until is not None:
            chosen = [e for e in chosen if e.recorded_at <= until]
        return chosen[:limit] if limit is not None else chosen

    async def read_for_replay(
        self, stream_id: str, *, from_version: int = 1, limit: int | None = None, until: datetime | None = None
    ) -> list[StreamEvent]:
        chosen = await self.read_stream(stream_id, from_version=from_version, limit=limit, until=until)
        # the payload goes through JSON text, as it does on its way out of PostgreSQL
        return [
            StreamEvent(e.stream_version, e.position, e.type, e.schema_version, json.dumps(e.data)) for e in chosen
        ]

    async def stream_version(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, []))

    async def read_feed(
        self, after: FeedCursor, limit: int = 100, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        chosen = [e for e in self._events if e.cursor > after and (not types or e.type in types)]
        return chosen[:limit]

    async def cursor_for_position(self, position: int) -> FeedCursor:
        if position <= 0:
            return FeedCursor.start()
        if position > len(self._events):
            raise UnknownPosition(f"no event has position {position}")
        return self._events[position - 1].cursor

    async def load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None:
        return self._snapshots.get((stream_id, schema_version))

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        key = (snapshot.stream_id, snapshot.schema_version)
        old = self._snapshots.get(key)
        if old is None or old.stream_version < snapshot.stream_version:
            self._snapshots[key] = replace(snapshot)


    async def archive_streams(self, stream_ids: Sequence[str]) -> list[ArchivedStream]:
        out: list[ArchivedStream] = []
        for stream_id in sorted(set(stream_ids)):
            stream = self._streams.get(stream_id)
            if not stream or stream_id in self._archived:
                continue
            last = stream[-1]
            kind = self._stream_types[stream_id]
            now = datetime.now(UTC)
            tombstone = ArchivedStream(stream_id, kind, last.stream_version, last.position, len(stream), now)
            self._archived[stream_id] = tombstone
            out.append(tombstone)
        return out

    async def restore_streams(self, stream_ids: Sequence[str]) -> int:
        gone = [self._archived.pop(s) for s in set(stream_ids) if s in self._archived]
        return sum(t.event_count for t in gone)

    async def archived(self, stream_id: str) -> ArchivedStream | None:
        return self._archived.get(stream_id)

    async def closed_streams(
        self, stream_type: str, closing_types: Sequence[str], before: datetime, *, after: str = "", limit: int = 500
    ) -> list[str]:
        found = sorted(
            sid
            for sid, stream in self._streams.items()
            if sid > after
            and sid not in self._archived
            and self._stream_types.get(sid) == stream_type
            and stream[-1].type in closing_types
            and stream[-1].recorded_at < before
        )
        return found[:limit]
