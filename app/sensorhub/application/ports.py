"""What the application needs from the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sensorhub.application.stored_events import (
    AppendCondition,
    AppendResult,
    ArchivedStream,
    MatchingEvents,
    NewEvent,
    QueryItem,
    RecordedEvent,
    Snapshot,
    StreamAppend,
    StreamEvent,
)
from sensorhub.domain.aggregate import Event


class EventStore(Protocol):
    async def append_many(
        self, appends: Sequence[StreamAppend], condition: AppendCondition | None = None
    ) -> list[AppendResult]: ...

    async def read_matching(self, items: Sequence[QueryItem]) -> MatchingEvents:
        """The events any of ``items`` matches, and the position to append on condition after."""
        ...

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        until: datetime | None = None,
    ) -> list[RecordedEvent]: ...

    async def read_for_replay(
        self, stream_id: str, *, from_version: int = 1, limit: int | None = None, until: datetime | None = None
    ) -> list[StreamEvent]:
        """``read_stream`` forward, reduced to what an aggregate's replay needs (the load path)."""
        ...

    async def load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None: ...

    async def save_snapshot(self, snapshot: Snapshot) -> None: ...

    async def archived(self, stream_id: str) -> ArchivedStream | None:
        """The stream's tombstone when its events were archived (they still read the same)."""
        ...


class StreamArchive(Protocol):
    """Archiving closed streams (both event stores): events leave the hot store, positions kept."""

    async def archive_streams(self, stream_ids: Sequence[str]) -> list[ArchivedStream]: ...

    async def restore_streams(self, stream_ids: Sequence[str]) -> int: ...

    async def archived(self, stream_id: str) -> ArchivedStream | None: ...

    async def closed_streams(
        self, stream_type: str, closing_types: Sequence[str], before: datetime, *, after: str = "", limit: int = 500
    ) -> list[str]: ...


class EventCodec(Protocol):
    """Domain events to stored payloads and back (with upcasting), and snapshot states."""

    def encode(self, event: object) -> tuple[str, int, dict[str, Any]]: ...

    def decode_record(self, record: RecordedEvent) -> Event: ...

    def decode_json(self, name: str, schema_version: int, data: str | bytes) -> Event:
        """Like ``decode_record``, from the payload's JSON text (``StreamEvent.data``)."""
        ...

    def encode_state(self, state: object) -> dict[str, Any]: ...

    def decode_state(self, cls: type, data: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class StoredResponse:
    """The first response to an ``Idempotency-Key``, replayed for a repeat of the same request."""

    request_hash: bytes
    status_code: int
    headers: dict[str, str]
    body: bytes


class IdempotencyRecords(Protocol):
    """Responses stored per (API key, Idempotency-Key)."""

    async def find(self, key_id: str, key: str) -> StoredResponse | None: ...

    async def save(self, key_id: str, key: str, response: StoredResponse) -> None:
        """Keep the first response stored for the key (a concurrent second save is a no-op)."""
        ...


@dataclass(frozen=True)
class DataKey:
    """A data subject's key (AES-256, 32 bytes), unwrapped. ``key_id`` names this key: a subject
    forgotten and seen again gets a new key, and what the old one sealed stays erased."""

    subject_id: str
    key_id: str
    secret: bytes


@dataclass(frozen=True)
class Forgotten:
    subject_id: str
    key_destroyed: bool  # False: no key was held for the subject
    position: int  # of the SubjectForgotten audit event


class SubjectKeys(Protocol):
    """Per-subject data keys, stored wrapped by a key-encryption key (key file or KMS). Destroying
    a subject's key erases every personal field sealed with it (crypto-shredding)."""

    async def find(self, subject_ids: Collection[str]) -> dict[str, DataKey]:
        """The keys held for ``subject_ids``; a subject without one (forgotten, never seen) is absent."""
        ...

    async def ensure(self, subject_ids: Collection[str]) -> dict[str, DataKey]:
        """The key of every subject in ``subject_ids``, made for those that have none yet."""
        ...

    async def forget(self, subject_id: str, audit: Callable[[bool], NewEvent]) -> Forgotten:
        """Destroy the subject's key and append ``audit(key_destroyed)`` (SubjectForgotten) to the
        subject's stream, in one transaction; a subject without a key still gets the audit event."""
        ...
