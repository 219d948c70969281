"""``sensorhub archive restore --day D``: bring an archived day back into ``readings``.

Every file the day's manifest lists is fetched, checked against its SHA-256 and row count, and
copied (as CSV) and merged in one transaction per file with ``ON CONFLICT DO NOTHING`` on the table's key
(device, metric, time): restoring twice, or over rows still there, adds nothing twice.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sensorhub.db import Conn, connect
from sensorhub.settings import Settings
from sensorhub.timeseries.archive import ArchiveSink, read_manifest, sink_for
from sensorhub.timeseries.archive_format import ArchivedFile, manifest_key
from sensorhub.timeseries.engines import ENGINES, Engine, detect

_STAGING = (
    "CREATE TEMP TABLE readings_restore "
    "(device_id text, metric text, time timestamptz, value double precision) ON COMMIT DROP"
)
_MERGE = (
    "INSERT INTO readings (device_id, metric, time, value) "
    "SELECT device_id, metric, time, value FROM readings_restore ON CONFLICT DO NOTHING"
)


_PLAIN = pa.schema(
    [
        ("device_id", pa.string()),
        ("metric", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("value", pa.float64()),
    ]
)


class RestoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class RestoredFile:
    index: int  # 1-based, of ``total``
    total: int
    key: str
    rows: int
    inserted: int


async def restore_day(
    conn: Conn,
    engine: Engine,
    sink: ArchiveSink,
    day: date,
    progress: Callable[[RestoredFile], None] = lambda _: None,
) -> list[RestoredFile]:
    manifest = await read_manifest(sink, day)
    if manifest is None:
        raise RestoreError(
            f"no complete archive of {day.isoformat()}: {sink.location(manifest_key(day))} does not exist "
            "(archived days are listed in the readings_archive table)"
        )
    await engine.ensure_partitions(conn, day, day)
    restored: list[RestoredFile] = []
    for index, file in enumerate(manifest.files, start=1):
        rows, csv = await _as_csv(sink, file)
        async with conn.transaction():
            await conn.execute(_STAGING)
            await conn.copy_to_table("readings_restore", source=io.BytesIO(csv), format="csv")
            status = await conn.execute(_MERGE)
        done = RestoredFile(index, len(manifest.files), file.key, rows, int(status.split()[-1]))
        progress(done)
        restored.append(done)
    return restored


async def _as_csv(sink: ArchiveSink, file: ArchivedFile) -> tuple[int, bytes]:
    """The file's rows as CSV for ``COPY``, checked against the manifest. Arrow writes the CSV in C++
    (floats in their shortest exact form, times as UTC ISO), far faster than a Python object per value."""
    data = await sink.get(file.key)
    if data is None:
        raise RestoreError(f"{sink.location(file.key)} is listed in the manifest but missing")
    if hashlib.sha256(data).hexdigest() != file.sha256:
        raise RestoreError(f"{sink.location(file.key)} does not match the SHA-256 in the manifest")
    table = pq.read_table(io.BytesIO(data), columns=list(_PLAIN.names)).cast(_PLAIN)
    if table.num_rows != file.rows:
        raise RestoreError(f"{sink.location(file.key)} holds {table.num_rows} rows, the manifest says {file.rows}")
    out = io.BytesIO()
    pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(include_header=False))
    return table.num_rows, out.getvalue()


async def restore_from_settings(settings: Settings, day: date, echo: Callable[[str], None]) -> list[RestoredFile]:
    """The CLI's restore: the archive and database the settings name, one progress line per file."""
    if not settings.archive_url:
        raise RestoreError("SENSORHUB_ARCHIVE_URL is not set: it names the archive to restore from")
    sink = sink_for(settings.archive_url, settings.archive_s3_endpoint_url)
    conn = await connect(settings.database_url)
    try:
        info = await detect(conn, settings.timeseries_engine)
        return await restore_day(
            conn,
            ENGINES[info.name],
            sink,
            day,
            lambda f: echo(f"[{f.index}/{f.total}] {f.key}: {f.rows} rows read, {f.inserted} inserted"),
        )
    finally:
        await conn.close()
