"""What the archive of one raw day looks like: its keys, its Parquet schema and its manifest.

Keys are relative to the archive root (the directory or ``s3://bucket/prefix`` of
``SENSORHUB_ARCHIVE_URL``)::

    readings/day=2026-11-30/group=0007/part-00000.parquet
    readings/day=2026-11-30/_manifest.json

``infra/components/archive_catalog.py`` restates this layout for the Glue table (``infra/`` imports
nothing from ``app/``); ``tests/infra/test_archive_catalog.py`` compares the two. Why these Parquet
choices: ``docs/archive.md``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pyarrow as pa

ROOT = "readings"
GROUP_DIGITS = 4  # device groups go up to 4096 (settings.archive_device_groups): always 4 digits
FORMAT = "sensorhub-readings-parquet"
VERSION = 1
SORTED_BY = ("device_id", "metric", "time")
ROW_GROUP_ROWS = 1_000_000
COMPRESSION = "zstd"

SCHEMA = pa.schema(
    [
        pa.field("device_id", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("metric", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)


def day_prefix(day: date) -> str:
    return f"{ROOT}/day={day.isoformat()}/"


def part_key(day: date, group: int, index: int = 0) -> str:
    # A fixed name per (day, group, part): an interrupted archive redone writes the same keys again,
    # so a glob reader never sees two copies of one group.
    return f"{day_prefix(day)}group={group:0{GROUP_DIGITS}d}/part-{index:05d}.parquet"


def manifest_key(day: date) -> str:
    # Under the day, beside the group directories: Athena's location template and a
    # ``*/*/*.parquet`` glob never read it, and readers that want completeness start from it.
    return f"{day_prefix(day)}_manifest.json"


@dataclass(frozen=True)
class ArchivedFile:
    key: str
    group: int
    rows: int
    bytes: int
    sha256: str
    min_time: str | None
    max_time: str | None


@dataclass(frozen=True)
class Manifest:
    """Written last: a day's archive is complete when its manifest exists and lists files that do."""

    day: date
    device_groups: int
    rows: int
    files: tuple[ArchivedFile, ...]
    created_at: str

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "day": self.day.isoformat(),
            "device_groups": self.device_groups,
            "rows": self.rows,
            "created_at": self.created_at,
            "sorted_by": list(SORTED_BY),
            "schema": {f.name: str(f.type) for f in SCHEMA},
            "compression": COMPRESSION,
            "files": [asdict(f) for f in self.files],
        }
        return json.dumps(body, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        body = json.loads(data)
        if body.get("format") != FORMAT or body.get("version") != VERSION:
            raise ValueError(
                f"not a {FORMAT} v{VERSION} manifest (format={body.get('format')!r}, version={body.get('version')!r})"
            )
        files = tuple(ArchivedFile(**f) for f in body["files"])
        if sum(f.rows for f in files) != body["rows"]:
            raise ValueError(f"manifest of {body['day']} lists {sum(f.rows for f in files)} rows, says {body['rows']}")
        return cls(date.fromisoformat(body["day"]), body["device_groups"], body["rows"], files, body["created_at"])
