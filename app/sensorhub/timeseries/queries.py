"""SQL for readings queries: raw ranges and epoch-aligned buckets with gap filling, on any engine.

Buckets of whole hours merge the hourly rollups that are current (not marked in ``rollup_dirty``
nor named by pending ingest upkeep, see ``upkeep.py``) with raw rows for the other hours
(``numeric`` sums, so the result equals raw rows alone); other buckets come from raw rows, summed as
``float8`` in reading-time order (deterministic on every engine and plan). Gap filling is done in SQL
with window functions over a ``generate_series`` grid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sensorhub.timeseries.engines import EPOCH, Engine

Fill = Literal["none", "null", "previous", "linear"]
AGGREGATES = ("avg", "min", "max", "count", "sum", "first", "last")
FILLS: tuple[Fill, ...] = ("none", "null", "previous", "linear")
HOUR = timedelta(hours=1)
_BUCKET = re.compile(r"^(\d{1,6})(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# Parameters of every bucketed query: $1 device_id, $2 metric, $3 from, $4 to, $5 bucket width.
# Only the columns the requested aggregates need are computed (``count`` always: it is cheap and
# ``avg`` and the rollup merge use it); ``{columns}`` is filled in by ``_raw_buckets`` and
# ``_rollup_buckets``.
# The rows reach the aggregate sorted by (bucket, time) whatever the plan (a group aggregate
# consumes them in that order, and so does a hash aggregate), so each bucket's float8 sum adds
# its values in reading-time order.
_RAW_BUCKETS = """
SELECT bucket, {columns}
FROM (
    SELECT {bucket} AS bucket, time, value
    FROM readings_series($1, $2, $3, $4)
    ORDER BY 1, 2
) rows
GROUP BY 1
"""

_ROLLUP_BUCKETS = f"""
WITH stale AS (
    -- Hours whose rollup may be stale: marked, or named by ingest upkeep not yet drained.
    SELECT d.bucket AS hour FROM rollup_dirty d
    WHERE d.device_id = $1 AND d.metric = $2 AND d.bucket >= date_bin('1 hour', $3, {EPOCH}) AND d.bucket < $4
    UNION
    SELECT u.bucket FROM ingest_upkeep k
    CROSS JOIN LATERAL unnest(k.hour_devices, k.hour_metrics, k.hours) AS u(device_id, metric, bucket)
    WHERE u.device_id = $1 AND u.metric = $2 AND u.bucket >= date_bin('1 hour', $3, {EPOCH}) AND u.bucket < $4
), usable AS (
    SELECT r.bucket AS hour, {{usable}}
    FROM readings_hourly r
    WHERE r.device_id = $1 AND r.metric = $2 AND r.bucket >= $3 AND r.bucket + interval '1 hour' <= $4
      AND NOT EXISTS (SELECT 1 FROM stale s WHERE s.hour = r.bucket)
), needed AS (
    SELECT hour FROM stale
    UNION SELECT date_bin('1 hour', $3, {EPOCH}) WHERE date_bin('1 hour', $3, {EPOCH}) <> $3
    UNION SELECT date_bin('1 hour', $4, {EPOCH}) WHERE date_bin('1 hour', $4, {EPOCH}) <> $4
), fresh AS (
    SELECT n.hour, x.*
    FROM needed n
    CROSS JOIN LATERAL (
        SELECT {{fresh}}
        FROM readings_series($1, $2, greatest(n.hour, $3), least(n.hour + interval '1 hour', $4))
    ) x
    WHERE x.count > 0
), hours AS (
    SELECT * FROM usable UNION ALL SELECT * FROM fresh
)
SELECT {{bucket}} AS bucket, {{merged}}
FROM hours
GROUP BY 1
"""

# Per internal column: (from raw rows, hourly rollup columns, from raw rows per hour, merged from hours).
# ``sum`` is ``numeric`` where hours are merged (independent of the order rollups and raw hours are
# added in, so rollups = raw rows), a time-ordered ``float8`` sum where buckets come from raw rows only.
_COLUMNS: dict[str, tuple[str, str, str, str]] = {
    "count": ("count(*) AS count", "r.count", "count(*) AS count", "sum(count)::bigint AS count"),
    "sum": ("sum(value) AS sum", "r.sum", "sum(value::numeric) AS sum", "sum(sum) AS sum"),
    "min": ("min(value) AS min", "r.min", "min(value) AS min", "min(min) AS min"),
    "max": ("max(value) AS max", "r.max", "max(value) AS max", "max(max) AS max"),
    "first": (
        "(array_agg(value ORDER BY time))[1] AS first",
        "r.first_time, r.first_value",
        "min(time) AS first_time, (array_agg(value ORDER BY time))[1] AS first_value",
        "(array_agg(first_value ORDER BY first_time))[1] AS first",
    ),
    "last": (
        "(array_agg(value ORDER BY time DESC))[1] AS last",
        "r.last_time, r.last_value",
        "max(time) AS last_time, (array_agg(value ORDER BY time DESC))[1] AS last_value",
        "(array_agg(last_value ORDER BY last_time DESC))[1] AS last",
    ),
}


def _needed(aggregates: tuple[str, ...]) -> list[str]:
    """The internal columns the requested aggregates are computed from, in a fixed order."""
    wanted = {"count", *aggregates}
    if "avg" in aggregates:
        wanted.add("sum")
    return [c for c in _COLUMNS if c in wanted]


def _raw_buckets(bucket: str, aggregates: tuple[str, ...]) -> str:
    columns = ", ".join(_COLUMNS[c][0] for c in _needed(aggregates))
    return _RAW_BUCKETS.format(bucket=bucket, columns=columns)


def _rollup_buckets(bucket: str, aggregates: tuple[str, ...]) -> str:
    needed = _needed(aggregates)
    return _ROLLUP_BUCKETS.format(
        bucket=bucket,
        usable=", ".join(_COLUMNS[c][1] for c in needed),
        fresh=", ".join(_COLUMNS[c][2] for c in needed),
        merged=", ".join(_COLUMNS[c][3] for c in needed),
    )


class QueryError(ValueError):
    """A query parameter that cannot be served; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_bucket(raw: str) -> timedelta:
    match = _BUCKET.match(raw.strip())
    if match is None or int(match[1]) == 0:
        raise QueryError("bucket", f"bucket {raw!r} is not a duration such as 30s, 5m, 1h, 1d or 1w")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def parse_aggregates(raw: str | None) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(a.strip() for a in (raw or "avg").split(",") if a.strip()))
    unknown = [a for a in names if a not in AGGREGATES]
    if unknown or not names:
        raise QueryError("agg", f"agg {raw!r} must be a comma-separated subset of {','.join(AGGREGATES)}")
    return names


def parse_fill(raw: str) -> Fill:
    for known in FILLS:
        if raw == known:
            return known
    raise QueryError("fill", f"fill {raw!r} must be one of {', '.join(FILLS)}")


def uses_rollups(width: timedelta) -> bool:
    return width >= HOUR and width % HOUR == timedelta(0)


_FINAL = {
    "avg": "(sum / nullif(count, 0))::float8",
    "sum": "sum::float8",
    "count": "count",
    "min": "min",
    "max": "max",
    "first": "first",
    "last": "last",
}


@dataclass(frozen=True)
class BucketQuery:
    sql: str
    aggregates: tuple[str, ...]


def bucket_query(engine: Engine, width: timedelta, aggregates: tuple[str, ...], fill: Fill) -> BucketQuery:
    """One row per bucket, in time order: the bucket's start as ``time``, then one column per
    aggregate, named by it, in the order asked for."""
    if uses_rollups(width):
        data = _rollup_buckets(engine.bucket("$5::interval", "hour"), aggregates)
    else:
        data = _raw_buckets(engine.bucket("$5::interval", "time"), aggregates)
    values = ", ".join(f"{_FINAL[a]} AS {a}" for a in aggregates)
    if fill == "none":
        sql = f"SELECT bucket AS time, {values} FROM ({data}) data ORDER BY bucket"
        return BucketQuery(sql, aggregates)
    grid = (
        f"SELECT generate_series({engine.bucket('$5::interval', '$3::timestamptz')}, "
        "$4::timestamptz - interval '1 microsecond', $5::interval) AS bucket"
    )
    joined = f"SELECT g.bucket, {values} FROM ({grid}) g LEFT JOIN ({data}) d USING (bucket)"
    # ``count`` is a fact about the bucket, never filled: an empty bucket counts 0.
    columns = [a for a in aggregates if a != "count"]
    if fill == "null" or not columns:
        outer = ", ".join("coalesce(count, 0) AS count" if a == "count" else a for a in aggregates)
        return BucketQuery(f"SELECT bucket AS time, {outer} FROM ({joined}) j ORDER BY bucket", aggregates)
    groups = ", ".join(
        f"count({c}) OVER (ORDER BY bucket) AS {c}_gp, count({c}) OVER (ORDER BY bucket DESC) AS {c}_gn"
        for c in columns
    )
    edges = ", ".join(
        f"first_value({c}) OVER (PARTITION BY {c}_gp ORDER BY bucket) AS {c}_pv, "
        f"first_value(bucket) OVER (PARTITION BY {c}_gp ORDER BY bucket) AS {c}_pt, "
        f"first_value({c}) OVER (PARTITION BY {c}_gn ORDER BY bucket DESC) AS {c}_nv, "
        f"first_value(bucket) OVER (PARTITION BY {c}_gn ORDER BY bucket DESC) AS {c}_nt"
        for c in columns
    )
    outer_columns: list[str] = []
    for a in aggregates:
        if a == "count":
            outer_columns.append("coalesce(count, 0) AS count")
        elif fill == "previous":
            outer_columns.append(f"CASE WHEN {a}_gp > 0 THEN {a}_pv END AS {a}")
        else:
            outer_columns.append(
                f"CASE WHEN {a} IS NOT NULL THEN {a} "
                f"WHEN {a}_gp > 0 AND {a}_gn > 0 THEN {a}_pv + ({a}_nv - {a}_pv) * "
                f"(extract(epoch FROM bucket - {a}_pt) / extract(epoch FROM {a}_nt - {a}_pt))::float8 END AS {a}"
            )
    sql = (
        f"SELECT bucket AS time, {', '.join(outer_columns)} FROM ("
        f"SELECT *, {edges} FROM (SELECT *, {groups} FROM ({joined}) j) g"
        ") e ORDER BY bucket"
    )
    return BucketQuery(sql, aggregates)


RAW_QUERY = """
SELECT time, value FROM readings_series($1, $2, $3, $4)
ORDER BY time
LIMIT $5
"""
