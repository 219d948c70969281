"""Errors of the application layer and of the event store port. Adapters translate driver errors
into these; the HTTP layer maps them to status codes."""

from __future__ import annotations

from sensorhub.application.stored_events import Expected


class EventStoreError(Exception):
    pass


class ConcurrencyError(EventStoreError):
    """The stream was not in the expected state; ``actual_version`` is where it is (0 = no stream)."""

    def __init__(self, stream_id: str, expected: Expected, actual_version: int) -> None:
        super().__init__(f"stream {stream_id} is at version {actual_version}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual_version = actual_version


class EventIdConflict(EventStoreError):
    """An event id is already stored with different content (or in another stream)."""


class AppendConditionFailed(EventStoreError):
    """An event matching the append's condition was stored after the position the decision was
    read at: nothing was written; decide again on fresh events."""

    def __init__(self, position: int, event_type: str, tag: str, after: int) -> None:
        super().__init__(
            f"a {event_type} event tagged {tag!r} was stored at position {position}, after the "
            f"decision's position {after}: read the matching events again and decide again"
        )
        self.position = position
        self.event_type = event_type
        self.tag = tag
        self.after = after


class TransientWriteError(EventStoreError):
    """The database aborted the append to break a deadlock (or a serialization conflict): nothing
    was written, and running the same command again is safe."""


class StreamArchived(EventStoreError):
    """An append to a stream whose events were archived: nothing was written. Archived streams are
    closed (a resolved alert); ``restore_stream`` brings the events back first if it must change."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(
            f"stream {stream_id} is archived and closed to appends; restore it first "
            f"(sensorhub events restore --stream {stream_id})"
        )
        self.stream_id = stream_id


class UnknownPosition(EventStoreError):
    """A feed position that names no stored event."""


class UnknownEventType(EventStoreError):
    pass


class NotFound(Exception):
    """No aggregate with this id (HTTP 404)."""


class AlreadyExists(Exception):
    """A create whose id is taken (HTTP 409)."""


class VersionMismatch(Exception):
    """An ``If-Match`` precondition failed (HTTP 412); ``current_version`` is the stream's version now."""

    def __init__(self, kind: str, aggregate_id: str, expected: int, current_version: int) -> None:
        super().__init__(
            f"{kind} {aggregate_id} is at version {current_version}, not {expected}: "
            "reload it and retry with the current ETag"
        )
        self.current_version = current_version


class TooMuchContention(Exception):
    """Concurrent writers kept winning; the command was retried and gave up (HTTP 409)."""
