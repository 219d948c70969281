"""What every event-sourced aggregate shares: a state folded from events, and the events not yet saved."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

S = TypeVar("S")


@dataclass(frozen=True)
class Event:
    """Base of every domain event: a fact, named in the past tense."""


class Aggregate(Generic[S]):
    """State plus pending events. Subclasses define :meth:`evolve` (a pure fold) and command methods.

    ``version`` is the stream version the aggregate was loaded at (0 for a new one);
    ``position`` is the global position of the last event it has seen (0 when unknown).
    """

    STREAM_TYPE: ClassVar[str]
    CREATED_BY: ClassVar[str]  # the name of the event that starts a stream of this kind
    STATE_TYPE: ClassVar[type]
    SNAPSHOT_VERSION: ClassVar[int] = 1

    def __init__(self, aggregate_id: str, state: S | None = None, version: int = 0, position: int = 0) -> None:
        self.id = aggregate_id
        self._state = state
        self.version = version
        self.position = position
        self.pending: list[Event] = []
        self.pending_tags: list[tuple[str, ...]] = []  # beside ``pending``: each event's tags

    @classmethod
    def evolve(cls, state: S | None, event: Event) -> S:
        raise NotImplementedError

    @classmethod
    def tags_of(cls, before: S | None, after: S, event: Event) -> tuple[str, ...]:
        """What ``event`` is about beyond this aggregate (rules across aggregates query by tag);
        none by default."""
        return ()

    @classmethod
    def evolve_all(cls, state: S | None, events: Iterable[Event]) -> S | None:
        """Fold many events: must equal ``evolve`` applied one event at a time. Replaying a long
        stream goes through here, so an aggregate may override it with a cheaper fold (one that
        does not build a new frozen state per event)."""
        for event in events:
            state = cls.evolve(state, event)
        return state

    @property
    def state(self) -> S:
        if self._state is None:
            raise LookupError(f"{self.STREAM_TYPE} {self.id} has no events yet")
        return self._state

    @property
    def exists(self) -> bool:
        return self._state is not None

    @property
    def next_version(self) -> int:
        """The version once the pending events are saved."""
        return self.version + len(self.pending)

    def replay(self, events: Iterable[Event], *, version: int, position: int = 0) -> None:
        """Fold already-stored events in; ``version``/``position`` are those of the last one."""
        self._state = self.evolve_all(self._state, events)
        self.version = version
        self.position = position or self.position

    def record(self, event: Event) -> None:
        before = self._state
        self._state = self.evolve(before, event)
        self.pending.append(event)
        self.pending_tags.append(self.tags_of(before, self._state, event))

    def mark_saved(self, version: int, position: int) -> None:
        self.pending.clear()
        self.pending_tags.clear()
        self.version = version
        self.position = position
