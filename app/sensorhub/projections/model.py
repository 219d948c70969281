"""What a projection is: a name, and a batch fold of recorded events into its generation's tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sensorhub.application.stored_events import RecordedEvent
from sensorhub.eventstore.feed import Connection


@dataclass
class Effects:
    """Side effects of a live batch, emitted only after it commits (never while replaying a rebuild)."""

    alert_changes: list[dict[str, Any]] = field(default_factory=list)


class Projection(Protocol):
    name: str

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent], effects: Effects | None
    ) -> None:
        """Apply ``events`` (in feed order, payloads upcast) to the tables of ``generation``, inside
        the caller's transaction. ``effects`` is ``None`` while rebuilding: collect nothing then."""
        ...


def table(name: str, generation: int) -> str:
    """The physical table of a read model in one generation (readers use the view ``name``)."""
    return f"{name}_g{generation}"


def parse_time(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


async def upsert(
    conn: Connection, relation: str, key: str, columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert or overwrite ``rows`` in one statement (``columns``: name and PostgreSQL type)."""
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c, _ in columns)
    arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(columns, start=1))
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c, _ in columns if c != key)
    await conn.execute(
        f"INSERT INTO {relation} ({names}) SELECT * FROM unnest({arrays})"
        f' ON CONFLICT ("{key}") DO UPDATE SET {updates}',
        *[[row[c] for row in rows] for c, _ in columns],
    )
