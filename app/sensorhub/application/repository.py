"""Load aggregates from the event store (latest valid snapshot, then newer events) and track them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from sensorhub.application.errors import NotFound, VersionMismatch
from sensorhub.application.ports import EventCodec, EventStore
from sensorhub.application.stored_events import Snapshot, StreamEvent
from sensorhub.domain.aggregate import Aggregate

A = TypeVar("A", bound=Aggregate[Any])


class Repository(Generic[A]):
    def __init__(self, kind: type[A], store: EventStore, codec: EventCodec, *, snapshot_every: int = 0) -> None:
        self.kind = kind
        self._store = store
        self._codec = codec
        self.snapshot_every = snapshot_every
        self.seen: dict[str, A] = {}

    async def find(self, aggregate_id: str) -> A | None:
        if aggregate_id in self.seen:
            return self.seen[aggregate_id]
        aggregate = await self._from_snapshot(aggregate_id) if self.snapshot_every else None
        aggregate = aggregate or self.kind(aggregate_id)
        events = await self._store.read_for_replay(aggregate_id, from_version=aggregate.version + 1)
        if self._another_kind(aggregate, events):
            return None
        self._replay(aggregate, events)
        if not aggregate.exists:
            return None
        self.seen[aggregate_id] = aggregate
        return aggregate

    async def get(self, aggregate_id: str, expected_version: int | None = None) -> A:
        """The aggregate; ``expected_version`` (from ``If-Match``) must equal its version."""
        aggregate = await self.find(aggregate_id)
        if aggregate is None:
            raise NotFound(f"no {self.kind.STREAM_TYPE.lower()} with id {aggregate_id!r}")
        if expected_version is not None and expected_version != aggregate.version:
            raise VersionMismatch(self.kind.STREAM_TYPE, aggregate_id, expected_version, aggregate.version)
        return aggregate

    def add(self, aggregate: A) -> None:
        self.seen[aggregate.id] = aggregate

    async def load_as_of(
        self, aggregate_id: str, *, version: int | None = None, at: datetime | None = None
    ) -> A | None:
        """Time travel: the state after event ``version``, or as recorded at time ``at``, rebuilt
        from events alone (snapshots are a cache of the present, not of the past)."""
        events = await self._store.read_for_replay(aggregate_id, limit=version, until=at)
        aggregate = self.kind(aggregate_id)
        if self._another_kind(aggregate, events):
            return None
        self._replay(aggregate, events)
        return aggregate if aggregate.exists else None

    def snapshot_due(self, aggregate: A, previous_version: int) -> bool:
        every = self.snapshot_every
        return every > 0 and aggregate.version // every > previous_version // every

    async def save_snapshot(self, aggregate: A) -> None:
        await self._store.save_snapshot(
            Snapshot(
                stream_id=aggregate.id,
                stream_type=aggregate.STREAM_TYPE,
                schema_version=aggregate.SNAPSHOT_VERSION,
                stream_version=aggregate.version,
                position=aggregate.position,
                state=self._codec.encode_state(aggregate.state),
            )
        )

    async def _from_snapshot(self, aggregate_id: str) -> A | None:
        # Only a snapshot of the current schema version is asked for: older ones are never misread.
        snapshot = await self._store.load_snapshot(aggregate_id, self.kind.SNAPSHOT_VERSION)
        if snapshot is None:
            return None
        state = self._codec.decode_state(self.kind.STATE_TYPE, snapshot.state)
        return self.kind(aggregate_id, state, snapshot.stream_version, snapshot.position)

    def _another_kind(self, aggregate: A, events: list[StreamEvent]) -> bool:
        """Devices and alerts share one id space: the stream with this id may be of another kind
        (``GET /v1/alerts/<a device id>``). Then there is no aggregate of this kind with that id."""
        return aggregate.version == 0 and bool(events) and events[0].type != self.kind.CREATED_BY

    def _replay(self, aggregate: A, events: list[StreamEvent]) -> None:
        if events:
            decode = self._codec.decode_json
            last = events[-1]
            # a generator: each decoded event is dropped once folded in, so a long replay leaves
            # no garbage behind for the collector to walk
            aggregate.replay(
                (decode(e.type, e.schema_version, e.data) for e in events),
                version=last.stream_version,
                position=last.position,
            )
