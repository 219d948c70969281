"""Event store errors; driver errors never leave the store."""

from __future__ import annotations

from sensorhub.eventstore.records import Expected


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


class UnknownPosition(EventStoreError):
    """A feed position that names no stored event."""


class UnknownEventType(EventStoreError):
    pass
