"""The unit of work: the repositories a command uses, and one atomic append of everything they changed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sensorhub.application.ports import EventCodec, EventStore
from sensorhub.application.repository import Repository
from sensorhub.application.stored_events import AppendCondition, AppendResult, NewEvent, QueryItem, StreamAppend
from sensorhub.domain.aggregate import Aggregate, Event
from sensorhub.domain.alert import Alert
from sensorhub.domain.device import Device


@dataclass(frozen=True)
class CommandContext:
    """Who asked and why: written into every event's metadata."""

    actor: str | None = None  # the API key id, or a worker's name
    correlation_id: str | None = None  # the request (or job) the whole exchange belongs to
    causation_id: str | None = None  # the message that caused this command

    def metadata(self) -> dict[str, Any]:
        return {"actor": self.actor, "correlation_id": self.correlation_id, "causation_id": self.causation_id}


@dataclass(frozen=True)
class CommitResult:
    appends: tuple[AppendResult, ...] = field(default_factory=tuple)

    @property
    def position(self) -> int | None:
        """The global position of the last event written (the consistency token)."""
        return max((a.position for a in self.appends), default=None)


def utc_now() -> datetime:
    return datetime.now(UTC)


class UnitOfWork:
    def __init__(
        self,
        store: EventStore,
        codec: EventCodec,
        *,
        context: CommandContext | None = None,
        snapshot_every: Mapping[str, int] | None = None,
        clock: Callable[[], datetime] = utc_now,
        on_snapshot_error: Callable[[Exception], None] | None = None,
    ) -> None:
        every = snapshot_every or {}
        self.context = context or CommandContext()
        self.devices = Repository(Device, store, codec, snapshot_every=every.get(Device.STREAM_TYPE, 0))
        self.alerts = Repository(Alert, store, codec, snapshot_every=every.get(Alert.STREAM_TYPE, 0))
        self._store = store
        self._codec = codec
        self._clock = clock
        self._on_snapshot_error = on_snapshot_error
        self._condition: AppendCondition | None = None

    def now(self) -> datetime:
        return self._clock()

    async def read_for_decision(self, items: Sequence[QueryItem]) -> list[tuple[str, Event]]:
        """The events of any stream matching ``items``, as (stream id, event), oldest first. The
        commit then appends only if no event matching ``items`` has been stored since
        (AppendConditionFailed otherwise): a rule across aggregates decided without a race."""
        if self._condition is not None:
            raise RuntimeError("a unit of work decides on one read; put every query item in that one read")
        found = await self._store.read_matching(items)
        self._condition = AppendCondition(tuple(items), found.position)
        return [(r.stream_id, self._codec.decode_record(r)) for r in found.events]

    async def commit(self) -> CommitResult:
        """Append the pending events of every aggregate seen, all or nothing, each stream with the
        version it was loaded at as its exact expectation, on the condition of ``read_for_decision``
        if there was one. Raises ConcurrencyError / AppendConditionFailed on a race."""
        # Streams are appended in a fixed order so two units of work cannot deadlock on each other.
        changed = sorted(
            ((repo, agg) for repo in self._repositories() for agg in repo.seen.values() if agg.pending),
            key=lambda pair: (pair[1].STREAM_TYPE, pair[1].id),
        )
        if not changed:
            return CommitResult()
        metadata = self.context.metadata()
        appends = [
            StreamAppend(
                agg.id,
                agg.STREAM_TYPE,
                tuple(self._new_event(e, metadata, t) for e, t in zip(agg.pending, agg.pending_tags, strict=True)),
                agg.version,
            )
            for _, agg in changed
        ]
        results = await self._store.append_many(appends, self._condition)
        for (repo, agg), result in zip(changed, results, strict=True):
            previous = agg.version
            agg.mark_saved(result.version, result.position)
            if repo.snapshot_due(agg, previous):
                await self._snapshot(repo, agg)
        return CommitResult(tuple(results))

    def _new_event(self, event: object, metadata: dict[str, Any], tags: tuple[str, ...]) -> NewEvent:
        name, schema_version, data = self._codec.encode(event)
        return NewEvent(uuid.uuid4(), name, schema_version, data, metadata, tags)

    async def _snapshot(self, repo: Repository[Any], aggregate: Aggregate[Any]) -> None:
        # A snapshot is a cache: failing to write one must not fail a command already committed.
        try:
            await repo.save_snapshot(aggregate)
        except Exception as exc:
            if self._on_snapshot_error is None:
                raise
            self._on_snapshot_error(exc)

    def _repositories(self) -> tuple[Repository[Any], ...]:
        return (self.devices, self.alerts)
