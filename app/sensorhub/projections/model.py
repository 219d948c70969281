"""What a projection is: a name, and a batch fold of recorded events into its generation's tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sensorhub.application.stored_events import RecordedEvent
from sensorhub.db import Conn
from sensorhub.projections.rows import Columns, Row, encode_rows, insert_sql, update_sql, upsert_sql


@dataclass
class Effects:
    """Side effects of a live batch, emitted only after it commits (never while replaying a rebuild)."""

    alert_changes: list[dict[str, Any]] = field(default_factory=list)
    # A data subject was forgotten: cached responses (under older stamps) may hold its personal
    # data until they expire; the fan-out deletes the projection's cached entries instead.
    purge_cache: bool = False


class Projection(Protocol):
    name: str

    async def apply(
        self, conn: Conn, generation: int, events: Sequence[RecordedEvent], effects: Effects | None
    ) -> None:
        """Apply ``events`` (in feed order, payloads upcast) to the tables of ``generation``, inside
        the caller's transaction. ``effects`` is ``None`` while rebuilding: collect nothing then."""
        ...


def table(name: str, generation: int) -> str:
    """The physical table of a read model in one generation (readers use the view ``name``)."""
    return f"{name}_g{generation}"


def payload_time(value: str | datetime) -> datetime:
    """A payload time; a naive one is UTC (rows are sent as text, which PostgreSQL would
    otherwise read in the session's time zone)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def upsert(conn: Conn, relation: str, key: str, columns: Columns, rows: Sequence[Row]) -> None:
    """Insert or overwrite ``rows`` in one statement (``columns``: name and PostgreSQL type)."""
    if rows:
        await conn.execute(upsert_sql(relation, key, tuple(columns)), encode_rows(columns, rows))


async def insert(conn: Conn, relation: str, columns: Columns, rows: Sequence[Row], on_conflict: str) -> None:
    """Insert ``rows`` in one statement; ``on_conflict``: what follows ``ON CONFLICT``."""
    if rows:
        await conn.execute(insert_sql(relation, tuple(columns), on_conflict), encode_rows(columns, rows))


async def update(conn: Conn, relation: str, key: str, columns: Columns, rows: Sequence[Row]) -> None:
    """Overwrite only ``columns`` (``key`` among them) of rows that exist: cheaper than an upsert
    of the whole row when a batch changed a few columns of rows it loaded."""
    if rows:
        await conn.execute(update_sql(relation, key, tuple(columns)), encode_rows(columns, rows))
