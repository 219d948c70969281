"""Request bodies in the media type the OpenAPI document names: a route that takes a JSON body
refuses any other ``Content-Type`` with 415 (Litestar would parse it as JSON regardless).
No ``Content-Type`` at all is read as JSON. Ingest reads its raw body and checks its own types."""

from __future__ import annotations

from typing import Any

from litestar import Request

from sensorhub.http.problems import ProblemError


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def json_bodies_only(request: Request[Any, Any, Any]) -> None:
    if "data" not in request.route_handler.parsed_fn_signature.parameters:
        return
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise ProblemError(415, f"the body must be application/json, not {content_type.split(';')[0].strip()!r}")
