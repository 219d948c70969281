"""The engine-specific half of the time-series store: how `readings` is partitioned, how old
partitions are dropped, and which SQL function buckets time. Everything else is shared SQL.

* ``timescaledb`` (Apache edition or full licence): a hypertable with one-day chunks, created
  with ``create_default_indexes => false`` because the primary key already leads with the series;
  ``time_bucket`` with an epoch origin; ``drop_chunks`` run by the maintenance job.
* ``postgres`` (e.g. AWS RDS): native range partitions of one day, created ahead by the
  maintenance job (and on demand by ingest), dropped for retention; ``date_bin``.

Both engines partition on UTC day boundaries, so retention drops exactly the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

from sensorhub.db import Conn

EngineName = Literal["timescaledb", "postgres"]
EngineChoice = Literal["auto", "timescaledb", "postgres"]
PARTITION_LOCK = 0x5E5E_0004  # advisory xact lock serialising partition DDL
EPOCH = "'1970-01-01 00:00:00+00'::timestamptz"
DAY = timedelta(days=1)

_COLUMNS = """
    device_id  text NOT NULL,
    metric     text NOT NULL,
    time       timestamptz NOT NULL,
    value      double precision NOT NULL,
    PRIMARY KEY (device_id, metric, time)
"""


class EngineError(RuntimeError):
    """The database cannot run the engine asked for (or already runs another one)."""


@dataclass(frozen=True)
class Partition:
    """One day of raw readings: a chunk or a partition covering ``[start, end)``."""

    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class EngineInfo:
    name: EngineName
    timescaledb_version: str | None
    timescaledb_license: str | None

    def describe(self) -> str:
        if self.name == "timescaledb":
            return f"timescaledb {self.timescaledb_version} ({self.timescaledb_license} licence): hypertable chunks"
        return "postgres: native daily range partitions"


class Engine(Protocol):
    name: EngineName

    async def create_readings(self, conn: Conn) -> None: ...

    async def ensure_partitions(self, conn: Conn, first: date, last: date) -> list[str]:
        """Make sure days ``first..last`` (inclusive) can take rows; return the partitions created."""
        ...

    async def partitions(self, conn: Conn) -> list[Partition]: ...

    async def drop_partition(self, conn: Conn, partition: Partition) -> None: ...

    def bucket(self, width: str, column: str) -> str:
        """SQL for the epoch-aligned start of the bucket of ``column`` (``width`` is an interval)."""
        ...


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class TimescaleEngine:
    name: EngineName = "timescaledb"

    async def create_readings(self, conn: Conn) -> None:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS readings ({_COLUMNS})")
        await conn.execute(
            "SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'), "
            "create_default_indexes => false, if_not_exists => true)"
        )

    async def ensure_partitions(self, conn: Conn, first: date, last: date) -> list[str]:
        # Chunks are created by TimescaleDB on the first insert into their range.
        return []

    async def partitions(self, conn: Conn) -> list[Partition]:
        rows = await conn.fetch(
            "SELECT chunk_schema || '.' || chunk_name AS name, range_start, range_end "
            "FROM timescaledb_information.chunks WHERE hypertable_name = 'readings' ORDER BY range_start"
        )
        return [Partition(r["name"], r["range_start"], r["range_end"]) for r in rows]

    async def drop_partition(self, conn: Conn, partition: Partition) -> None:
        # drop_chunks drops the chunks entirely before the cutoff: here exactly this one day.
        await conn.execute(
            "SELECT drop_chunks('readings', older_than => $1::timestamptz, newer_than => $2::timestamptz)",
            partition.end,
            partition.start - timedelta(microseconds=1),
        )

    def bucket(self, width: str, column: str) -> str:
        return f"time_bucket({width}, {column}, origin => {EPOCH})"


_PARTITION_NAME = re.compile(r"^readings_p(\d{8})$")


class PostgresEngine:
    name: EngineName = "postgres"

    async def create_readings(self, conn: Conn) -> None:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS readings ({_COLUMNS}) PARTITION BY RANGE (time)")

    async def ensure_partitions(self, conn: Conn, first: date, last: date) -> list[str]:
        wanted = {f"readings_p{first + timedelta(days=i):%Y%m%d}" for i in range((last - first).days + 1)}
        if not wanted:
            return []
        existing = {p.name for p in await self.partitions(conn)}
        missing = sorted(wanted - existing)
        if not missing:
            return []
        # DDL on the parent takes a strong lock: do it in its own short transaction, one replica at a time.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
            existing = {p.name for p in await self.partitions(conn)}
            created: list[str] = []
            for name in missing:
                if name in existing:
                    continue
                start = day_start(datetime.strptime(name[-8:], "%Y%m%d").date())
                await conn.execute(
                    f"CREATE TABLE {name} PARTITION OF readings FOR VALUES FROM ('{start.isoformat()}') "
                    f"TO ('{(start + DAY).isoformat()}')"
                )
                created.append(name)
        return created

    async def partitions(self, conn: Conn) -> list[Partition]:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'readings'::regclass"
        )
        found: list[Partition] = []
        for row in rows:
            match = _PARTITION_NAME.match(row["relname"])
            if match:
                start = day_start(datetime.strptime(match[1], "%Y%m%d").date())
                found.append(Partition(row["relname"], start, start + DAY))
        return sorted(found, key=lambda p: p.start)

    async def drop_partition(self, conn: Conn, partition: Partition) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
            await conn.execute(f"DROP TABLE IF EXISTS {partition.name}")

    def bucket(self, width: str, column: str) -> str:
        return f"date_bin({width}, {column}, {EPOCH})"


ENGINES: dict[EngineName, Engine] = {"timescaledb": TimescaleEngine(), "postgres": PostgresEngine()}


async def detect(conn: Conn, choice: EngineChoice = "auto") -> EngineInfo:
    """The engine this database runs: the one that created `readings`, else the forced one, else
    TimescaleDB when the extension is installed, else plain PostgreSQL."""
    version = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    licence = await conn.fetchval("SELECT current_setting('timescaledb.license', true)") if version else None
    recorded = await conn.fetchval("SELECT engine FROM timeseries_engine")
    if choice == "timescaledb" and version is None:
        raise EngineError(
            "SENSORHUB_TIMESERIES_ENGINE=timescaledb but this database has no timescaledb extension; "
            "use `auto` or `postgres`"
        )
    if recorded is not None and choice not in ("auto", recorded):
        raise EngineError(
            f"readings in this database were created by the {recorded} engine; "
            f"SENSORHUB_TIMESERIES_ENGINE={choice} cannot switch an existing database (use `auto` or `{recorded}`)"
        )
    name: EngineName
    if recorded in ("timescaledb", "postgres"):
        name = recorded
    elif choice != "auto":
        name = choice
    else:
        name = "timescaledb" if version is not None else "postgres"
    return EngineInfo(name, version, licence)


async def prepare(conn: Conn, choice: EngineChoice = "auto") -> EngineInfo:
    """Detect the engine and create `readings` for it (idempotent; safe from several replicas)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
        info = await detect(conn, choice)
        await ENGINES[info.name].create_readings(conn)
        await conn.execute(
            "INSERT INTO timeseries_engine (engine) VALUES ($1) ON CONFLICT (singleton) DO NOTHING", info.name
        )
    return info
