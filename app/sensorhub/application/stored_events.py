"""What goes into the store and what comes out, independent of the backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

Expected = Literal["any", "no_stream", "stream_exists"] | int
"""An append's expectation about the stream: any state, absent, present, or exactly this version."""


def expectation_met(expected: Expected, actual: int) -> bool:
    """Whether a stream at version ``actual`` (0 = no stream) meets ``expected``."""
    if expected == "any":
        return True
    if expected == "no_stream":
        return actual == 0
    if expected == "stream_exists":
        return actual > 0
    return expected == actual


@dataclass(frozen=True)
class NewEvent:
    event_id: UUID
    type: str  # the registered name, e.g. "DeviceRegistered"
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # what the event is about, for conditions across streams (QueryItem)


@dataclass(frozen=True)
class QueryItem:
    """Events of one of ``types`` (any type when empty) that carry every one of ``tags``."""

    types: tuple[str, ...]
    tags: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.tags:
            raise ValueError(
                f"a query item needs at least one tag (types {list(self.types)}): conditions are "
                "checked and locked per tag; name what the decision is about, e.g. a tag per device name"
            )


@dataclass(frozen=True)
class AppendCondition:
    """Fail the append if an event matching any of ``items`` was stored after position ``after``
    (the ``position`` of the ``MatchingEvents`` the decision was made on)."""

    items: tuple[QueryItem, ...]
    after: int


@dataclass(frozen=True)
class MatchingEvents:
    """The events matching a query, oldest first, and the position to pass as the condition's
    ``after``: no matching event can appear at or below it any more."""

    events: list[RecordedEvent]
    position: int


@dataclass(frozen=True, order=True)
class FeedCursor:
    """A place in the global feed: the (transaction id, position) of the last event read.

    The feed is ordered by this pair, not by position alone; see ``feed.read_feed``.
    """

    transaction_id: int
    position: int

    @classmethod
    def start(cls) -> FeedCursor:
        return cls(0, 0)


@dataclass(frozen=True)
class RecordedEvent:
    event_id: UUID
    stream_id: str
    stream_version: int
    position: int
    transaction_id: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    @property
    def cursor(self) -> FeedCursor:
        return FeedCursor(self.transaction_id, self.position)


class StreamEvent(NamedTuple):
    """What rebuilding an aggregate needs of a stored event, and nothing more.

    Loading a 1,000-event stream spent most of its time building full ``RecordedEvent``s
    (ten fields, decoded metadata, timestamps, ids) only to read four of them. The payload
    stays JSON text so the codec can decode it straight into the event class, without an
    intermediate dict (``EventCodec.decode_json``).
    """

    stream_version: int
    position: int
    type: str
    schema_version: int
    data: str  # the payload as JSON text


@dataclass(frozen=True)
class AppendResult:
    stream_id: str
    version: int  # stream version of the last event
    position: int  # global position of the last event
    positions: tuple[int, ...]
    replayed: bool = False  # the same events were already stored: nothing was written this time


@dataclass(frozen=True)
class StreamAppend:
    """One stream's share of an atomic multi-stream append."""

    stream_id: str
    stream_type: str
    events: tuple[NewEvent, ...]
    expected: Expected


@dataclass(frozen=True)
class Snapshot:
    stream_id: str
    stream_type: str
    schema_version: int
    stream_version: int
    position: int
    state: dict[str, Any]


@dataclass(frozen=True)
class ArchivedStream:
    """The tombstone of an archived stream: its events left the hot table, positions unchanged."""

    stream_id: str
    stream_type: str
    last_version: int
    last_position: int
    event_count: int
    archived_at: datetime
