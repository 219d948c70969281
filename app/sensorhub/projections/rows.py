"""Moving read-model rows between Python and PostgreSQL in bulk, cheaply on the client.

Profiling a registry rebuild showed the projector's own CPU, not the server, as the limit:
most of it went to ``json.loads`` of event payloads and to sending rows as one array
parameter per column (``unnest($1::text[], ...)``): a ``json.dumps`` per jsonb value, and
asyncpg checking every array element against ``collections.abc.Iterable``. So:

* rows travel as **one JSON document** per statement, encoded by msgspec in C and expanded
  by the server with ``json_to_recordset`` (each value goes through its column type's
  input function, exactly as a literal would);
* the projector's session decodes json/jsonb with msgspec (``loads``, passed to
  ``sensorhub.db.init_connection``), falling back to ``json.loads`` for the rare document
  msgspec refuses (a number beyond float range), so every value decodes exactly as
  ``json.loads`` would.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import msgspec

Columns = Sequence[tuple[str, str]]  # (column name, PostgreSQL type)
Row = dict[str, Any]

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
# msgspec writes a non-finite float as null; float8's input function reads these spellings.
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def loads(text: str) -> Any:
    """``json.loads``, about three times faster for what PostgreSQL sends."""
    try:
        return _decode(text)
    except msgspec.DecodeError:  # e.g. 1e400: json.loads reads inf, msgspec refuses
        return json.loads(text)


def encode_rows(columns: Columns, rows: Sequence[Row]) -> str:
    """``rows`` as a JSON array of objects for ``json_to_recordset``. Datetimes keep their
    offset (a naive one would be read in the session's time zone: ``parse_time`` never makes
    one); a non-finite ``float8`` becomes the spelling its input function accepts."""
    floats = [c for c, t in columns if t == "float8"]
    if floats:
        rows = [_finite_or_text(row, floats) for row in rows]
    return _encode(rows).decode()


def _finite_or_text(row: Row, floats: list[str]) -> Row:
    bad = {c: _non_finite_text(v) for c in floats if isinstance(v := row.get(c), float) and not math.isfinite(v)}
    return {**row, **bad} if bad else row


def _non_finite_text(value: float) -> str:
    return _NON_FINITE.get(value, "NaN")


@lru_cache(maxsize=64)
def _recordset(columns: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    names = ", ".join(f'"{c}"' for c, _ in columns)
    definitions = ", ".join(f'"{c}" {t}' for c, t in columns)
    # ``$1::text::json``: a text parameter, so the session's json codec does not encode it again.
    return names, f"SELECT {names} FROM json_to_recordset($1::text::json) AS r({definitions})"


@lru_cache(maxsize=64)
def upsert_sql(relation: str, key: str, columns: tuple[tuple[str, str], ...]) -> str:
    names, select = _recordset(columns)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c, _ in columns if c != key)
    return f'INSERT INTO {relation} ({names}) {select} ON CONFLICT ("{key}") DO UPDATE SET {updates}'


@lru_cache(maxsize=64)
def insert_sql(relation: str, columns: tuple[tuple[str, str], ...], on_conflict: str) -> str:
    names, select = _recordset(columns)
    return f"INSERT INTO {relation} ({names}) {select} ON CONFLICT {on_conflict}"


@lru_cache(maxsize=64)
def update_sql(relation: str, key: str, columns: tuple[tuple[str, str], ...]) -> str:
    """Overwrite ``columns`` (one of them ``key``) of existing rows; rows not there are ignored."""
    _, select = _recordset(columns)
    sets = ", ".join(f'"{c}" = r."{c}"' for c, _ in columns if c != key)
    return f'UPDATE {relation} AS t SET {sets} FROM ({select}) AS r WHERE t."{key}" = r."{key}"'
