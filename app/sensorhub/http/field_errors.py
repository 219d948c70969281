"""Validation errors in the client's terms: ``[{field, message}]`` naming the query parameter,
header or body field the client sent (``from``, ``X-Min-Position``, ``metrics[0].name``), never
the handler's Python names (``start``, ``x_min_position``, ``data``); enum errors list the
allowed values; a time whose ``+`` was not URL-encoded gets a hint."""

from __future__ import annotations

import datetime
import re
import types
import typing
from typing import Any, Literal

from litestar import Request
from litestar.exceptions import ValidationException

from sensorhub.http.views import PATTERN_MEANINGS

FieldError = dict[str, str]

_MISSING = re.compile(r"^Missing required (query parameter|header|cookie|path parameter) '([^']+)'")
_BODY_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]+)`")
_ENUM = re.compile(r"^Invalid enum value (.+)$")
_REGEX = re.compile(r"^Expected `str` matching regex '(.+)'$")
# "2026-01-01T00:00:00 00:00": a `+` sent unencoded arrives as a space.
_SPACE_OFFSET = re.compile(r"\d \d{2}(:?\d{2})?$")
PLUS_HINT = "a `+` in a query string means a space: encode the offset as %2B (2026-01-01T00:00:00%2B00:00) or use Z"


def plus_hint(value: str | None) -> str:
    """`` (hint)`` when ``value`` looks like a time whose ``+`` offset was not URL-encoded."""
    return f" ({PLUS_HINT})" if value and _SPACE_OFFSET.search(value) else ""


def literal_values(annotation: Any) -> tuple[str, ...]:
    """The allowed values of a ``Literal`` (possibly inside ``Optional`` / ``Annotated``)."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    if origin is not None:
        return tuple(v for arg in typing.get_args(annotation) for v in literal_values(arg))
    return ()


def _body_type(request: Request[Any, Any, Any]) -> Any:
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    return None if field is None else field.annotation


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` → X; ``X | None`` → X."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
            continue
        return annotation


def _struct_field_type(root: Any, path: str) -> Any:
    """The annotation of ``path`` (``metrics[0].name``) inside the body type ``root``."""
    current = _unwrap(root)
    for part in re.findall(r"[^.\[\]]+", path):
        if part.isdigit():
            args = typing.get_args(current)
            current = _unwrap(args[0]) if args else None
            continue
        hints = typing.get_type_hints(current, include_extras=True) if isinstance(current, type) else {}
        if part not in hints:
            return None
        current = _unwrap(hints[part])
    return current


def _enum_message(value: str, allowed: tuple[str, ...]) -> str:
    return f"{value} is not allowed; expected one of: {', '.join(allowed)}"


def _readable(message: str) -> str:
    """msgspec's "Expected `str` matching regex '…'" as what the pattern means."""
    regex = _REGEX.match(message)
    if regex is None:
        return message
    pattern = regex[1].encode().decode("unicode_escape") if "\\\\" in regex[1] else regex[1]
    meaning = PATTERN_MEANINGS.get(pattern)
    return meaning if meaning else f"must match the pattern {pattern}"


def _from_extra(request: Request[Any, Any, Any], item: dict[str, Any]) -> FieldError:
    source_kind = item.get("source") or ""
    key, source = str(item.get("key") or ""), str(getattr(source_kind, "value", source_kind))
    message = _readable(str(item.get("message") or "invalid value"))
    params = request.route_handler.parsed_fn_signature.parameters
    enum = _ENUM.match(message)
    if source == "body":
        named = _BODY_FIELD.match(message)
        field = named[1] if named else ("body" if key in ("", "data") else key)
        allowed = literal_values(_struct_field_type(_body_type(request), field)) if enum else ()
        return {"field": field, "message": _enum_message(enum[1], allowed) if enum and allowed else message}
    param = params.get(key)
    definition = param.kwarg_definition if param is not None else None
    field = getattr(definition, "name", None) or key
    allowed = literal_values(param.annotation) if param is not None else ()
    schema_extra = getattr(definition, "schema_extra", None)
    if not allowed and isinstance(schema_extra, dict):
        allowed = tuple(str(v) for v in schema_extra.get("enum", ()))
    if allowed and (enum or message.startswith("must match the pattern")):
        message = _enum_message(repr(request.query_params.get(field)) if not enum else enum[1], allowed)
    if source == "query":
        message += plus_hint(request.query_params.get(field))
    return {"field": field, "message": message}


def field_errors(request: Request[Any, Any, Any], exc: ValidationException) -> list[FieldError]:
    """Litestar's validation failure as field errors in the client's names."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [_from_extra(request, item) for item in extra if isinstance(item, dict)]
    if not errors:
        missing = _MISSING.match(str(exc.detail))
        if missing:
            errors.append({"field": missing[2], "message": f"the {missing[1]} `{missing[2]}` is required"})
        else:
            errors.append({"field": "body", "message": str(exc.detail)})
    return errors


_RFC3339_START = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def refuse_loose_query_values(request: Request[Any, Any, Any]) -> None:
    """What Litestar would read leniently from a query string, refused as the document says:
    ``null`` for a parameter that is not a string (it would become "absent"), and a number
    for a time (it would become a Unix timestamp)."""
    for name, field in request.route_handler.parsed_fn_signature.parameters.items():
        definition = field.kwarg_definition
        if definition is None or not hasattr(definition, "query") or getattr(definition, "header", None):
            continue
        wire = getattr(definition, "name", None) or name
        values = request.query_params.getall(wire, [])
        if not values:
            continue
        kind = _unwrap(field.annotation)
        message = ""
        if kind is datetime.datetime and not all(_RFC3339_START.match(v) for v in values):
            message = "expected an RFC 3339 time such as 2026-01-01T00:00:00Z" + plus_hint(values[0])
        elif kind is not str and "null" in values:
            allowed = literal_values(kind)
            message = _enum_message("'null'", allowed) if allowed else "expected a value, not null"
        if message:
            raise ValidationException(extra=[{"key": name, "source": "query", "message": message}])


__all__ = ["PLUS_HINT", "field_errors", "literal_values", "plus_hint", "refuse_loose_query_values"]
