"""What a projection is: a name, and a batch fold of recorded events into its generation's tables."""

from __future__ import annotations

import json
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
    await conn.execute(
        f"INSERT INTO {relation} {unnest_select(columns)}"
        f' ON CONFLICT ("{key}") DO UPDATE SET ' + ", ".join(f'"{c}" = excluded."{c}"' for c, _ in columns if c != key),
        *column_arrays(columns, rows),
    )


def unnest_select(columns: Sequence[tuple[str, str]]) -> str:
    """``(cols) SELECT ... FROM unnest($1, $2, ...)``; jsonb travels as text (asyncpg would read a
    JSON list inside an array parameter as another array dimension)."""
    names = ", ".join(f'"{c}"' for c, _ in columns)
    params = ", ".join(f"${i}::{'text' if t == 'jsonb' else t}[]" for i, (_, t) in enumerate(columns, start=1))
    values = ", ".join(f"v{i}::jsonb" if t == "jsonb" else f"v{i}" for i, (_, t) in enumerate(columns, start=1))
    aliases = ", ".join(f"v{i}" for i in range(1, len(columns) + 1))
    return f"({names}) SELECT {values} FROM unnest({params}) AS t({aliases})"


def column_arrays(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [[json.dumps(row[c], separators=(",", ":")) if t == "jsonb" else row[c] for row in rows] for c, t in columns]
