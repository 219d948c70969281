"""Reading rows as they arrive (JSON, NDJSON or CSV) and why a row may be rejected. Pure: no I/O."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

import msgspec

from sensorhub.timeseries.store import Reading

CSV_HEADER = ("device_id", "metric", "time", "value")


class Rejection(msgspec.Struct, frozen=True, gc=False):
    index: int
    reason: str  # a stable code: unknown_device, decommissioned_device, unknown_metric, ...
    detail: str  # what is wrong and what would be right


class BodyError(ValueError):
    """The body as a whole cannot be read (not a per-row problem)."""


class TooManyRows(ValueError):
    """More rows than one request may carry (HTTP 413)."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"this request carries {count} or more rows; the limit is {limit}: split it into batches")
        self.count = count
        self.limit = limit


@dataclass
class Parsed:
    readings: list[tuple[int, Reading]]  # (index in the request, reading)
    rejected: list[Rejection]

    @property
    def total(self) -> int:
        return len(self.readings) + len(self.rejected)


def parse_rfc3339(raw: object) -> datetime:
    """An RFC 3339 time from a request; one without a UTC offset is refused, not guessed."""
    if not isinstance(raw, str):
        raise ValueError(f"expected an RFC 3339 string such as 2025-01-01T12:00:00Z, got {type(raw).__name__}")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an RFC 3339 time; expected e.g. 2025-01-01T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{raw!r} has no UTC offset; add one, e.g. {raw}Z or {raw}+02:00")
    return parsed


def row_from(index: int, item: Any) -> Reading | Rejection:
    """One row from a mapping with device_id, metric, time and value."""
    if not isinstance(item, dict):
        return Rejection(index, "malformed_row", "each reading must be an object with device_id, metric, time, value")
    missing = [k for k in CSV_HEADER if item.get(k) in (None, "")]
    if missing:
        return Rejection(index, "malformed_row", f"missing {', '.join(missing)}")
    device_id, metric = item["device_id"], item["metric"]
    if not isinstance(device_id, str) or not isinstance(metric, str):
        return Rejection(index, "malformed_row", "device_id and metric must be strings")
    try:
        time = parse_rfc3339(item["time"])
    except ValueError as exc:
        return Rejection(index, "malformed_time", str(exc))
    raw_value = item["value"]
    if isinstance(raw_value, bool) or not isinstance(raw_value, int | float | str):
        return Rejection(index, "malformed_value", f"value must be a number, got {raw_value!r}")
    try:
        value = float(raw_value)
    except ValueError:
        return Rejection(index, "malformed_value", f"value must be a number, got {raw_value!r}")
    if not math.isfinite(value):
        return Rejection(index, "non_finite_value", f"value must be a finite number, got {raw_value!r}")
    return Reading(device_id, metric, time, value)


def _collect(items: list[Any] | list[Reading | Rejection], start: int = 0) -> Parsed:
    parsed = Parsed([], [])
    for index, item in enumerate(items, start):
        row = item if isinstance(item, Reading | Rejection) else row_from(index, item)
        if isinstance(row, Reading):
            parsed.readings.append((index, row))
        else:
            parsed.rejected.append(row)
    return parsed


def _check_rows(count: int, limit: int | None) -> None:
    if limit is not None and count > limit:
        raise TooManyRows(count, limit)


class _WellFormedRow(msgspec.Struct):
    device_id: str
    metric: str
    time: str
    value: float


class _WellFormedBatch(msgspec.Struct, forbid_unknown_fields=True):
    readings: list[_WellFormedRow]


_WELL_FORMED = msgspec.json.Decoder(_WellFormedBatch)


def _parse_well_formed_json(body: bytes, max_rows: int | None) -> Parsed | None:
    """The common case, decoded typed by msgspec (no dict per row), the rows checked and built by
    C iterators. ``None`` if any row is not well formed: the general path then gives every row its
    verdict, so both paths agree."""
    try:
        batch = _WELL_FORMED.decode(body)
    except msgspec.DecodeError:  # includes msgspec.ValidationError
        return None
    rows = batch.readings
    _check_rows(len(rows), max_rows)
    devices, metrics = list(map(_DEVICE_ID, rows)), list(map(_METRIC, rows))
    values = list(map(_VALUE, rows))
    if not (all(devices) and all(metrics) and all(map(math.isfinite, values))):
        return None
    try:
        times = list(map(datetime.fromisoformat, map(_TIME, rows)))
    except ValueError:
        return None
    if any(t.tzinfo is None for t in times):
        return None
    return Parsed(list(enumerate(map(Reading, devices, metrics, times, values))), [])


_DEVICE_ID, _METRIC, _TIME, _VALUE = (attrgetter(name) for name in ("device_id", "metric", "time", "value"))


def parse_json(body: bytes, max_rows: int | None = None) -> Parsed:
    fast = _parse_well_formed_json(body, max_rows)
    if fast is not None:
        return fast
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BodyError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("readings"), list) or len(document) != 1:
        raise BodyError('expected {"readings": [{"device_id", "metric", "time", "value"}, ...]} and nothing else')
    _check_rows(len(document["readings"]), max_rows)
    return _collect(document["readings"])


def parse_ndjson(body: bytes, max_rows: int | None = None) -> Parsed:
    _check_rows(body.count(b"\n") + 1 - (1 if body.endswith(b"\n") else 0), max_rows)
    rows: list[Any] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(msgspec.json.decode(line))
        except msgspec.DecodeError:
            rows.append(Rejection(len(rows), "malformed_row", "this line is not a JSON object"))
    return _collect(rows)


def parse_csv(body: bytes, max_rows: int | None = None) -> Parsed:
    _check_rows(body.count(b"\n") - (1 if body.endswith(b"\n") else 0), max_rows)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BodyError("the CSV body must be UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))  # as csv wants: a bare \r inside a row is no error
    rows: list[Any] = []
    try:  # the csv module gives up on some bytes (e.g. a bare carriage return inside a field)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != CSV_HEADER:
            raise BodyError(f"the CSV body must start with the header {','.join(CSV_HEADER)}")
        for record in reader:
            if not record:
                continue
            if len(record) != len(CSV_HEADER):
                rows.append(Rejection(len(rows), "malformed_row", f"expected 4 columns, got {len(record)}"))
            else:
                rows.append(dict(zip(CSV_HEADER, (c.strip() for c in record), strict=True)))
    except csv.Error as exc:
        raise BodyError(f"the CSV body cannot be read after line {reader.line_num}: {exc}") from None
    return _collect(rows)


def parse_body(body: bytes, content_type: str, max_rows: int | None = None) -> Parsed:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
        return parse_ndjson(body, max_rows)
    if kind == "text/csv":
        return parse_csv(body, max_rows)
    if kind in ("application/json", ""):
        return parse_json(body, max_rows)
    raise BodyError(f"unsupported content type {kind!r}: send application/json, application/x-ndjson or text/csv")
