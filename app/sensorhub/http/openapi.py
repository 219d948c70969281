"""Make the OpenAPI document describe every response the API really sends.

Handlers document their success bodies (``responses=documented(View, ...)``)
and the errors they raise themselves; what every protected route can answer
(401, 403, 413, 422, 503 as problem+json) is added here once, after the
document is built, instead of on each route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from sensorhub.http.auth import PUBLIC_PATHS
from sensorhub.http.openapi_contract import apply_contract
from sensorhub.http.problems import PROBLEM_JSON
from sensorhub.http.views import EXAMPLES

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, unknown or revoked API key",
    403: "The API key lacks the needed scope",
    404: "Not found",
    409: "Conflict with the current state",
    412: "If-Match does not match the current version",
    413: "Request body over the configured limit",
    415: "Unsupported content type",
    422: "Invalid input; `errors` lists each field",
    503: "A dependency is unavailable; retry after `Retry-After` seconds",
}


class Problem(msgspec.Struct):
    """RFC 9457 problem details (only for typing ``documented``; the schema above is authoritative)."""

    type: str
    title: str
    status: int
    detail: str


def documented(success: Any = None, *errors: int, status: int = 200, description: str = "OK") -> dict[int, Any]:
    """``responses=`` for a route: its success body (when it returns raw bytes) and its own errors."""
    specs: dict[int, Any] = {}
    if success is not None:
        specs[status] = ResponseSpec(data_container=success, description=description, generate_examples=False)
    for code in errors:
        specs[code] = ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS.get(code, "Error"),
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
    return specs


EVENT_STREAM = "text/event-stream"
# What ``parse_csv`` checks first: the header row (cells trimmed), after an optional BOM.
_SP = r"[^\S\r\n]*"  # blanks within a line
CSV_PATTERN = "^\\ufeff?" + ",".join(rf"{_SP}{c}{_SP}" for c in ("device_id", "metric", "time", "value")) + r"(\r?\n|$)"


class ServerSentEventRecord(msgspec.Struct):
    """One Server-Sent Event as a client's parser reads it off a ``text/event-stream`` body."""

    data: str = ""
    event: str = "message"
    id: str | None = None
    retry: int | None = None


def event_stream(description: str) -> dict[int, Any]:
    """``responses=`` for a Server-Sent Events route: a 200 ``text/event-stream`` whose schema is
    that of each event (as OpenAPI tools read SSE), not Litestar's default JSON body."""
    return {
        200: ResponseSpec(
            data_container=ServerSentEventRecord,
            description=description,
            media_type=EVENT_STREAM,
            generate_examples=False,
        )
    }


def _problem_response(code: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS.get(code, "Error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def enrich(schema: dict[str, Any]) -> None:
    """Add the responses every protected operation can give, and one shared Problem schema."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        public = path.startswith(PUBLIC_PATHS)
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            # Litestar documents its own 400 validation body; ours is a 422 problem.
            responses.pop("400", None)
            codes = [503]
            if not public:
                codes += [401, 403]
                operation["security"] = [{"BearerAuth": []}]
            else:
                operation["security"] = []
            if "requestBody" in operation or operation.get("parameters"):
                codes += [400, 422]
            if "requestBody" in operation:
                codes += [413, 415]
            if method in ("get", "delete", "patch", "put", "post") and "{" in path:
                codes.append(404)
            for code in codes:
                existing = responses.get(str(code))
                if existing is None or PROBLEM_JSON in existing.get("content", {}):
                    responses[str(code)] = _problem_response(code)


def enrich_app_schema(app: Litestar) -> None:
    """``on_startup`` hook: enrich the cached document served at ``/schema/openapi.json``."""
    doc = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    enrich(doc)
    apply_contract(doc, app, {cls.__name__: example for cls, example in EXAMPLES.items()})


@dataclass
class ReadingsBodyOperation(Operation):
    """The ingest route reads its raw body (three content types); document what it accepts."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="A batch of readings as JSON, NDJSON (one row per line) or CSV with a header row.",
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["readings"],
                        properties={"readings": Schema(type=OpenAPIType.ARRAY, items=_row_schema())},
                        additional_properties=False,
                    ),
                    example={
                        "readings": [
                            {
                                "device_id": "boiler-1",
                                "metric": "temperature",
                                "time": "2026-01-01T12:00:00Z",
                                "value": 21.5,
                            }
                        ]
                    },
                ),
                "application/x-ndjson": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
                "text/csv": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.STRING,
                        description="A header row `device_id,metric,time,value`, then one reading per line",
                        pattern=CSV_PATTERN,
                    ),
                    example="device_id,metric,time,value\nboiler-1,temperature,2026-01-01T12:00:00Z,21.5\n",
                ),
            },
        )


def _row_schema() -> Schema:
    # Any item is accepted at the request level: each row gets its own verdict (accepted, duplicate,
    # or rejected with a reason in the 200 response), so no shape is refused with a 4xx.
    return Schema(
        description="A reading `{device_id, metric, time, value}`: `time` RFC 3339 with an offset, `value` a finite"
        " number. A row that is not so is rejected on its own (`rejected: [{index, reason}]`), not the batch.",
    )
