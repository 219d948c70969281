"""Archive raw days before retention drops them: one gzip CSV per day and device group
(``readings/day=YYYY-MM-DD/group=NNN.csv.gz``), to a local directory or S3-compatible storage.

Devices fall into ``groups`` groups by a stable hash of their id (CRC-32), so one device's day is
always in the same file. A day already recorded in ``readings_archive`` is not written again.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from sensorhub.db import Conn
from sensorhub.timeseries.engines import Partition

HEADER = ("device_id", "metric", "time", "value")


class ArchiveSink(Protocol):
    def location(self, key: str) -> str: ...

    async def put(self, key: str, data: bytes) -> None: ...


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
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a file


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
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data, ContentType="application/gzip"
        )


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


def key_for(day: date, group: int) -> str:
    return f"readings/day={day.isoformat()}/group={group:03d}.csv.gz"


async def archive_day(conn: Conn, sink: ArchiveSink, partition: Partition, groups: int) -> int:
    """Write one day of raw readings, one file per device group; return the rows archived."""
    day = partition.start.date()
    rows = await conn.fetch("SELECT device_group FROM readings_archive WHERE day = $1", day)
    done = {r["device_group"] for r in rows}
    buffers: dict[int, tuple[io.BytesIO, gzip.GzipFile, Any]] = {}
    counts: dict[int, int] = {}
    async with conn.transaction():
        cursor = conn.cursor(
            "SELECT device_id, metric, time, value FROM readings_of_day($1) ORDER BY device_id, metric, time",
            day,
            prefetch=5000,
        )
        async for row in cursor:
            group = device_group(row["device_id"], groups)
            if group in done:
                continue
            if group not in buffers:
                raw = io.BytesIO()
                zipped = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)
                text = io.TextIOWrapper(zipped, encoding="utf-8", newline="")
                writer = csv.writer(text)
                writer.writerow(HEADER)
                buffers[group] = (raw, zipped, (text, writer))
            _, _, (_, writer) = buffers[group]
            writer.writerow((row["device_id"], row["metric"], row["time"].isoformat(), repr(row["value"])))
            counts[group] = counts.get(group, 0) + 1
    for group, (raw, _, (text, _)) in sorted(buffers.items()):
        text.close()  # flushes the text wrapper and the gzip stream into ``raw``
        key = key_for(day, group)
        await sink.put(key, raw.getvalue())
        await conn.execute(
            "INSERT INTO readings_archive (day, device_group, location, rows) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING",
            day,
            group,
            sink.location(key),
            counts[group],
        )
    return sum(counts.values())
