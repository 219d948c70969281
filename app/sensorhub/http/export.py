"""The streaming export of a device's readings: CSV or NDJSON chunks, one per keyset batch, and
how the OpenAPI document describes the two bodies."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import msgspec
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)

from sensorhub.http.openapi import CSV_PATTERN
from sensorhub.timeseries.store import Point

EXPORT_FORMATS = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
CSV_HEADER = b"device_id,metric,time,value\n"


class ExportRow(msgspec.Struct):
    device_id: str
    metric: str
    time: datetime
    value: float


async def export_chunks(
    device_id: str, batches: AsyncIterable[tuple[str, list[Point]]], fmt: str
) -> AsyncIterator[bytes]:
    """The body, a chunk per batch (CSV starts with its header row). A device id and a metric
    name never need CSV quoting (their patterns allow no comma, quote or newline); values are
    written as Python's shortest round-trip form, so re-ingesting the export stores the same floats."""
    encoder = msgspec.json.Encoder()
    if fmt == "csv":
        yield CSV_HEADER
    async for metric, points in batches:
        if fmt == "csv":
            prefix = f"{device_id},{metric},"
            yield "".join(f"{prefix}{p.time.isoformat()},{p.value!r}\n" for p in points).encode()
        else:
            yield encoder.encode_lines([ExportRow(device_id, metric, p.time, p.value) for p in points])


@dataclass
class ExportOperation(Operation):
    """The 200 body is CSV or NDJSON (by ``format``), not Litestar's default for a stream."""

    def __post_init__(self) -> None:
        ok = OpenAPIResponse(
            description="The readings: CSV with a header row (`format=csv`) or one JSON object per line"
            " (`format=ndjson`), by metric then time, streamed",
            headers={
                "Content-Disposition": OpenAPIHeader(
                    description='`attachment; filename="<device_id>-readings.<format>"`',
                    schema=Schema(type=OpenAPIType.STRING),
                )
            },
            content={
                "text/csv": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, pattern=CSV_PATTERN),
                    example="device_id,metric,time,value\nboiler-1,temperature,2026-01-01T12:00:00+00:00,21.5\n",
                ),
                "application/x-ndjson": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.STRING,
                        description="One JSON object per line: `{device_id, metric, time, value}`",
                    ),
                    example='{"device_id":"boiler-1","metric":"temperature","time":"2026-01-01T12:00:00Z","value":21.5}\n',
                ),
            },
        )
        self.responses = {**(self.responses or {}), "200": ok}
