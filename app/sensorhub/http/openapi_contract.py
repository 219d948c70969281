"""The parts of the OpenAPI document Litestar cannot derive from the handlers' signatures:
the headers of the command protocol (``If-Match``, ``Idempotency-Key`` → ``ETag``,
``X-Position``, ``Location``, ``Idempotent-Replayed``), read-your-writes (``X-Stale``), rate
limits (429 with ``Retry-After``), closed request bodies (``additionalProperties: false``, as
msgspec's ``forbid_unknown_fields`` enforces) with an example each, and query parameters
without Litestar's ``null`` branch (a query string cannot carry a null).

Routes opt in with ``opt={"command": True}`` (a command: If-Match unless ``"create": True``,
Idempotency-Key, the command response headers) and ``opt={"etag": True}`` (a read with ETag).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute

from sensorhub.http.problems import PROBLEM_JSON

IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'Apply the command only to this version (an `ETag` this API returned, e.g. `"3"`); else 412',
    "schema": {"type": "string", "pattern": '^\\s*(\\*|(W/)?"?[0-9]{1,18}"?)\\s*$', "example": '"3"'},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat a command safely: the same key and body replay the first response "
    "(`Idempotent-Replayed: true`); the same key with another body → 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "example": "5b0f1a52-8f7e-4f53-9d0e-3f4c1b7a9e21"},
}


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


ETAG = _header('The version of the representation, e.g. `"3"`: send it back as `If-Match`')
COMMAND_HEADERS = {
    "ETag": ETAG,
    "X-Position": _header(
        "Global position of the command's last event: send it as `X-Min-Position` to read your write",
        {"type": "string", "pattern": "^[0-9]+$"},
    ),
    "Idempotent-Replayed": _header("`true` when this is the stored response to a repeated Idempotency-Key"),
}
LOCATION = _header("The URL of the created device")
STALE = _header("`true` when the read models had not reached `X-Min-Position` in time: the data may be older")
RATE_LIMIT_HEADERS = {
    "RateLimit": _header('Quota left in the current window, e.g. `"read";r=42;t=17` (when limits are configured)'),
    "RateLimit-Policy": _header('The quota, e.g. `"read";q=1200;w=60` (when limits are configured)'),
}
RETRY_AFTER = _header("Seconds to wait before retrying", {"type": "string", "pattern": "^[0-9]+$"})


def _handlers(app: Litestar) -> dict[str, Any]:
    """operationId → route handler."""
    found: dict[str, Any] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, _ in route.route_handler_map.values():
                if isinstance(handler.operation_id, str):
                    found[handler.operation_id] = handler
    return found


_BOUNDS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
    "min_length": "minLength",
    "max_length": "maxLength",
    "pattern": "pattern",
}


def _declared_bounds(handler: Any) -> dict[str, dict[str, Any]]:
    """Wire name → the bounds its ``QueryParameter``/``HeaderParameter`` declares (Litestar leaves
    them out of the document for an optional parameter, yet enforces them)."""
    out: dict[str, dict[str, Any]] = {}
    for name, field in handler.parsed_fn_signature.parameters.items():
        definition = field.kwarg_definition
        if definition is None or not hasattr(definition, "ge"):
            continue
        bounds = {
            key: getattr(definition, attr)
            for attr, key in _BOUNDS.items()
            if getattr(definition, attr, None) is not None
        }
        out[getattr(definition, "name", None) or name] = bounds
    return out


def _exact(schema: dict[str, Any]) -> None:
    """Integer bounds as integers: 2**63 - 1 as a float is 2**63, and a fuzzer takes it at its word."""
    if schema.get("type") == "integer":
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(schema.get(key), float):
                schema[key] = int(schema[key])


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``oneOf: [X, {type: null}]`` / ``type: [null, X]`` / ``enum: [..., null]`` → X."""
    branches = [b for b in schema.get("oneOf", []) if b.get("type") != "null"]
    if "oneOf" in schema and len(branches) == 1:
        rest = {k: v for k, v in schema.items() if k != "oneOf"}
        schema = {**branches[0], **rest}
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        schema["type"] = types[0] if len(types) == 1 else types
    if "enum" in schema:
        schema["enum"] = [v for v in schema["enum"] if v is not None]
    return schema


def _close(schema: dict[str, Any], components: dict[str, Any], seen: set[str]) -> None:
    """``additionalProperties: false`` on an object schema and every object it refers to."""
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name not in seen and name in components:
            seen.add(name)
            _close(components[name], components, seen)
        return
    if schema.get("type") == "object" and "properties" in schema:
        schema["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _close(schema[key], components, seen)
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []) + list(schema.get("properties", {}).values()):
        if isinstance(branch, dict):
            _close(branch, components, seen)


def apply_contract(doc: dict[str, Any], app: Litestar, examples: dict[str, Any]) -> None:
    """``examples``: component name → example request body."""
    handlers = _handlers(app)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            handler = handlers.get(operation.get("operationId", ""))
            opt = dict(handler.opt) if handler is not None else {}
            bounds = _declared_bounds(handler) if handler is not None else {}
            params: list[dict[str, Any]] = operation.setdefault("parameters", [])
            for param in params:
                if param.get("in") in ("query", "header") and isinstance(param.get("schema"), dict):
                    param["schema"] = _without_null(param["schema"])
                    param["schema"].update(bounds.get(param["name"], {}))
                    _exact(param["schema"])
            responses: dict[str, Any] = operation["responses"]
            ok = [r for code, r in responses.items() if code.startswith("2")]
            if opt.get("command"):
                names = {p["name"] for p in params}
                wanted = [IDEMPOTENCY_KEY] if opt.get("create") else [IF_MATCH, IDEMPOTENCY_KEY]
                params.extend(p for p in wanted if p["name"] not in names)
                for response in ok:
                    response.setdefault("headers", {}).update(COMMAND_HEADERS)
                if "201" in responses:
                    responses["201"]["headers"]["Location"] = LOCATION
                if "412" in responses:
                    responses["412"].setdefault("headers", {})["ETag"] = ETAG
            if "204" in responses:  # no body, whatever the handler's annotation says
                responses["204"].pop("content", None)
            if opt.get("etag"):
                for response in ok:
                    response.setdefault("headers", {})["ETag"] = ETAG
            if any(p["name"] == "X-Min-Position" for p in params):
                for response in ok:
                    response.setdefault("headers", {})["X-Stale"] = STALE
            if "401" in responses:  # a protected route: rate limited when limits are configured
                for response in ok:
                    response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
                responses["429"] = {
                    "description": "Rate limit of this API key reached; retry after `Retry-After` seconds",
                    "headers": {"Retry-After": RETRY_AFTER, **RATE_LIMIT_HEADERS},
                    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            if not params:
                operation.pop("parameters")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                _close(body["schema"], components, set())
                name = body["schema"].get("$ref", "").rsplit("/", 1)[-1]
                if name in examples:
                    body["example"] = examples[name]
