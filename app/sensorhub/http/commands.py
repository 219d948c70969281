"""What every command endpoint shares: the command context, If-Match, running a handler in a unit
of work, responses with ETag/X-Position, and Idempotency-Key replay."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response

from sensorhub.apikeys import ApiKey
from sensorhub.application.commands import execute
from sensorhub.application.ports import IdempotencyRecords, StoredResponse
from sensorhub.application.results import CommandResult
from sensorhub.application.unit_of_work import CommandContext, UnitOfWork
from sensorhub.http.problems import ProblemError, etag, invalid, translated_errors
from sensorhub.runtime import UnitOfWorkFactory

C = TypeVar("C")
S = TypeVar("S")
AnyRequest = Request[Any, Any, Any]

_ETAG = re.compile(r'^\s*(?:W/)?"?([0-9]{1,18})"?\s*$')
_REPLAYED_HEADERS = ("etag", "x-position", "location")
MAX_IDEMPOTENCY_KEY = 200


def command_context(request: AnyRequest) -> CommandContext:
    key: ApiKey = request.user
    request_id = request.headers.get("x-request-id")
    return CommandContext(
        actor=key.key_id,
        correlation_id=request.headers.get("x-correlation-id") or request_id,
        causation_id=request.headers.get("idempotency-key") or request_id,
    )


def if_match(request: AnyRequest) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    match = _ETAG.match(raw)
    if match is None:
        message = f'If-Match must be an ETag this API returned, such as "3"; got {raw!r}'
        raise invalid("If-Match", message)
    return int(match[1])


def json_response(
    body: msgspec.Struct, *, status: int = 200, version: int | None = None, headers: dict[str, str] | None = None
) -> Response[bytes]:
    all_headers = dict(headers or {})
    if version is not None:
        all_headers["ETag"] = etag(version)
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json", headers=all_headers)


def command_response(
    body: msgspec.Struct, *, version: int, position: int, status: int = 200, location: str | None = None
) -> Response[bytes]:
    headers = {"X-Position": str(position)}
    if location is not None:
        headers["Location"] = location
    return json_response(body, status=status, version=version, headers=headers)


@dataclass(frozen=True)
class Commands:
    """Runs command handlers for HTTP requests."""

    unit_of_work: UnitOfWorkFactory
    idempotency: IdempotencyRecords

    async def run(
        self,
        request: AnyRequest,
        handler: Callable[[C, UnitOfWork], Awaitable[CommandResult[S]]],
        command: C,
        respond: Callable[[CommandResult[S]], Response[bytes]],
    ) -> Response[bytes]:
        """Run ``handler`` on ``command`` (retried on write races), errors as problems, the response
        made by ``respond``, replayed for a repeated ``Idempotency-Key``."""
        context = command_context(request)

        async def run() -> Response[bytes]:
            with translated_errors():
                result = await execute(handler, command, lambda: self.unit_of_work(context))
            return respond(result)

        return await idempotent(request, self.idempotency, run)


def canonical_body(body: bytes) -> bytes:
    """A JSON body with sorted keys and no whitespace (the same command however it was spelled);
    anything else as sent."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return body


async def idempotent(
    request: AnyRequest, records: IdempotencyRecords, run: Callable[[], Awaitable[Response[bytes]]]
) -> Response[bytes]:
    """With an ``Idempotency-Key``: the first response to a key is stored and replayed for a repeat
    with the same body; the same key with another body (or another endpoint) → 422.

    Only successful responses are stored; a failed command may be retried with the same key.
    """
    key = request.headers.get("idempotency-key")
    if key is None:
        return await run()
    if not key.strip():
        message = "Idempotency-Key must not be empty: send a new unique value (a UUID) per command, or no header"
        raise invalid("Idempotency-Key", message)
    if len(key) > MAX_IDEMPOTENCY_KEY:
        message = f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters (a UUID is 36)"
        raise invalid("Idempotency-Key", message)
    key_id = request.user.key_id
    digest = hashlib.sha256(
        b"\0".join([request.method.encode(), request.url.path.encode(), canonical_body(await request.body())])
    ).digest()
    stored = await records.find(key_id, key)
    if stored is not None:
        if stored.request_hash != digest:
            raise ProblemError(
                422, "this Idempotency-Key was already used with a different request; use a new key per command"
            )
        return Response(
            stored.body,
            status_code=stored.status_code,
            media_type="application/json",
            headers={**stored.headers, "Idempotent-Replayed": "true"},
        )
    response = await run()
    body = response.content if isinstance(response.content, bytes) else b""
    headers = {k: v for k, v in response.headers.items() if k.lower() in _REPLAYED_HEADERS}
    await records.save(key_id, key, StoredResponse(digest, response.status_code or 200, headers, body))
    return response
