"""Archive raw days before retention drops them: Parquet, partitioned Hive-style by day and device
group (layout and manifest: ``archive_format.py``), to a local directory or S3-compatible storage.

Devices fall into ``groups`` groups by a stable hash of their id (CRC-32), so one device's day is
always in the same file. A day whose manifest is there and whose files are all there is not written
again; any other state of a day (nothing, some parts, a manifest whose files are missing) is redone
from the database, writing the same keys. ``archive_day`` returns only once the day is complete, so
retention, which drops a day after it, never drops a day whose archive is not.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from sensorhub.db import Conn
from sensorhub.observability import get_logger
from sensorhub.timeseries.archive_format import (
    COMPRESSION,
    ROW_GROUP_ROWS,
    SCHEMA,
    SORTED_BY,
    ArchivedFile,
    Manifest,
    day_prefix,
    manifest_key,
    part_key,
)
from sensorhub.timeseries.engines import Partition

log = get_logger("sensorhub.archive")
FETCH_ROWS = 10_000
_CONTENT_TYPES = {".parquet": "application/vnd.apache.parquet", ".json": "application/json"}


class ArchiveIncomplete(RuntimeError):
    """The archive of a day could not be verified complete (retention must not drop that day)."""


class ArchiveSink(Protocol):
    def location(self, key: str) -> str: ...

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        ...

    async def sizes(self, prefix: str) -> dict[str, int]:
        """Every key under ``prefix`` with its size in bytes."""
        ...

    async def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class DirectorySink:
    root: Path

    def location(self, key: str) -> str:
        return str(self.root / key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self.root / key, data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")  # a dot file: no reader's glob matches it
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a file

    async def get(self, key: str) -> bytes | None:
        path = self.root / key
        return await asyncio.to_thread(path.read_bytes) if path.is_file() else None

    async def sizes(self, prefix: str) -> dict[str, int]:
        base = self.root / prefix
        if not base.is_dir():
            return {}
        return {
            p.relative_to(self.root).as_posix(): p.stat().st_size
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        }

    async def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


@dataclass(frozen=True)
class S3Sink:
    bucket: str
    prefix: str
    client: Any  # a boto3 S3 client

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _key(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    async def put(self, key: str, data: bytes) -> None:
        # S3 checks the SHA-256 on arrival and refuses the object if it does not match.
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=_CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream"),
            ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode(),
        )

    async def get(self, key: str) -> bytes | None:
        try:
            response = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return await asyncio.to_thread(response["Body"].read)

    async def sizes(self, prefix: str) -> dict[str, int]:
        def listing() -> dict[str, int]:
            found: dict[str, int] = {}
            strip = len(self._key(""))
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            ):
                for obj in page.get("Contents", []):
                    found[obj["Key"][strip:]] = int(obj["Size"])
            return found

        return await asyncio.to_thread(listing)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))


def sink_for(url: str, s3_endpoint_url: str | None = None) -> ArchiveSink:
    """``file:///abs/dir``, ``file:relative/dir`` or ``s3://bucket/prefix``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return DirectorySink(Path(parsed.netloc + parsed.path if parsed.netloc else parsed.path))
    if parsed.scheme == "s3" and parsed.netloc:
        import boto3

        client = boto3.client("s3", endpoint_url=s3_endpoint_url)
        return S3Sink(parsed.netloc, parsed.path, client)
    raise ValueError(f"archive URL {url!r} must look like file:///var/lib/sensorhub/archive or s3://bucket/prefix")


def device_group(device_id: str, groups: int) -> int:
    return zlib.crc32(device_id.encode()) % groups


async def readings_of_day(conn: Conn, partition: Partition) -> AsyncIterator[Sequence[Any]]:
    """Every reading of the day, in batches, ordered by series and time: the archive's only read."""
    async with conn.transaction():
        cursor = await conn.cursor(
            "SELECT device_id, metric, time, value FROM readings WHERE time >= $1 AND time < $2 "
            "ORDER BY device_id, metric, time",
            partition.start,
            partition.end,
        )
        while batch := await cursor.fetch(FETCH_ROWS):
            yield batch


@dataclass
class _GroupFile:
    """One device group's Parquet file, built in memory a row group at a time (rows arrive sorted)."""

    sink: pa.BufferOutputStream = field(default_factory=pa.BufferOutputStream)
    writer: pq.ParquetWriter | None = None
    columns: tuple[list[Any], ...] = field(default_factory=lambda: ([], [], [], []))
    rows: int = 0
    min_time: datetime | None = None
    max_time: datetime | None = None

    def add(self, row: Sequence[Any]) -> None:
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)
        self.rows += 1
        time = row[2]
        self.min_time = time if self.min_time is None else min(self.min_time, time)
        self.max_time = time if self.max_time is None else max(self.max_time, time)
        if len(self.columns[0]) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.columns[0]:
            return
        table = pa.table(
            [
                pa.array(self.columns[0], pa.string()).dictionary_encode(),
                pa.array(self.columns[1], pa.string()).dictionary_encode(),
                pa.array(self.columns[2], SCHEMA.field("time").type),
                pa.array(self.columns[3], pa.float64()),
            ],
            schema=SCHEMA,
        )
        if self.writer is None:
            self.writer = pq.ParquetWriter(
                self.sink,
                SCHEMA,
                compression=COMPRESSION,
                use_dictionary=["device_id", "metric"],  # pyright: ignore[reportArgumentType] - stubs say bool; a list is documented
                sorting_columns=[pq.SortingColumn(SCHEMA.get_field_index(c)) for c in SORTED_BY],
            )
        self.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        for column in self.columns:
            column.clear()

    def finish(self) -> bytes:
        self._flush()
        assert self.writer is not None
        self.writer.close()
        return self.sink.getvalue().to_pybytes()


async def read_manifest(sink: ArchiveSink, day: date) -> Manifest | None:
    data = await sink.get(manifest_key(day))
    return Manifest.from_json(data) if data is not None else None


async def is_complete(sink: ArchiveSink, manifest: Manifest) -> bool:
    """Every file the manifest lists is there, with its size (checksums: S3 on upload, restore on read)."""
    present = await sink.sizes(day_prefix(manifest.day))
    return all(present.get(f.key) == f.bytes for f in manifest.files)


async def archive_day(conn: Conn, sink: ArchiveSink, partition: Partition, groups: int) -> int:
    """Archive one day (one Parquet file per device group) unless it is already complete; return
    the rows written now. Raises ``ArchiveIncomplete`` rather than return before the day is complete."""
    day = partition.start.date()
    try:
        manifest = await read_manifest(sink, day)
    except (ValueError, KeyError, TypeError):  # unreadable: as good as none, and redone below
        manifest = None
    if manifest is not None and await is_complete(sink, manifest):
        await _record(conn, sink, manifest)
        return 0
    # Files missing or the manifest unreadable: no reader may trust it while the day is redone.
    await sink.delete(manifest_key(day))
    files = await _write_groups(conn, sink, partition, groups)
    # Leftovers of an earlier attempt (e.g. with another number of groups) would double-count in a glob.
    written = {f.key for f in files}
    for stale in sorted(set(await sink.sizes(day_prefix(day))) - written):
        await sink.delete(stale)
    manifest = Manifest(
        day, groups, sum(f.rows for f in files), tuple(files), datetime.now(UTC).isoformat(timespec="seconds")
    )
    if not await is_complete(sink, manifest):
        raise ArchiveIncomplete(f"the archive of {day} at {sink.location(day_prefix(day))} is missing files")
    await sink.put(manifest_key(day), manifest.to_json())
    await _record(conn, sink, manifest)
    log.info("day archived", day=day.isoformat(), rows=manifest.rows, files=len(files))
    return manifest.rows


async def _write_groups(conn: Conn, sink: ArchiveSink, partition: Partition, groups: int) -> list[ArchivedFile]:
    day = partition.start.date()
    building: dict[int, _GroupFile] = {}
    group_of: dict[str, int] = {}
    async for batch in readings_of_day(conn, partition):
        for row in batch:
            device = row[0]
            group = group_of.get(device)
            if group is None:
                group = group_of[device] = device_group(device, groups)
            building.setdefault(group, _GroupFile()).add(row)
    files: list[ArchivedFile] = []
    for group, built in sorted(building.items()):
        data = await asyncio.to_thread(built.finish)
        key = part_key(day, group)
        await sink.put(key, data)
        files.append(
            ArchivedFile(
                key,
                group,
                built.rows,
                len(data),
                hashlib.sha256(data).hexdigest(),
                built.min_time.isoformat() if built.min_time else None,
                built.max_time.isoformat() if built.max_time else None,
            )
        )
    return files


async def _record(conn: Conn, sink: ArchiveSink, manifest: Manifest) -> None:
    """Operators' view of what is archived where (``readings_archive``); the manifest is the truth."""
    await conn.executemany(
        "INSERT INTO readings_archive (day, device_group, location, rows) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (day, device_group) DO UPDATE SET location = excluded.location, rows = excluded.rows",
        [(manifest.day, f.group, sink.location(f.key), f.rows) for f in manifest.files],
    )
