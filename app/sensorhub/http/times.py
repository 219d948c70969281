"""Times from a query string: an offset required, answered in UTC, within the years Python and
PostgreSQL share (``0001-01-01T00:00:00+00:01`` is year 0 in UTC and would fail in the driver,
after a streaming answer has started)."""

from __future__ import annotations

from datetime import UTC, datetime

from sensorhub.http.field_errors import plus_hint
from sensorhub.http.problems import invalid


def utc_moment(name: str, value: datetime, sent: str | None = None) -> datetime:
    """``value`` in UTC; 422 naming ``name`` when it has no offset or falls outside years 1-9999
    in UTC. ``sent`` (the raw query value) adds the URL-encoding hint for a lost ``+``."""
    if value.tzinfo is None:
        raise invalid(name, f"`{name}` needs a UTC offset, e.g. 2026-01-01T00:00:00Z{plus_hint(sent)}")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise invalid(name, f"`{name}` is out of range: in UTC it must fall within the years 1 to 9999") from None


def utc_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``[from, to)`` in UTC, ``to`` later than ``from``."""
    start, end = utc_moment("from", start), utc_moment("to", end)
    if end <= start:
        raise invalid("to", "`to` must be later than `from`")
    return start, end
