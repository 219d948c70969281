"""What the device, alert and event controllers share: the write side's wiring, command context,
If-Match, error translation, command responses with ETag/X-Position, and Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response

from sensorhub.apikeys import ApiKey
from sensorhub.application.errors import (
    AlreadyExists,
    NotFound,
    TooMuchContention,
    UnknownPosition,
    VersionMismatch,
)
from sensorhub.application.unit_of_work import CommandContext, UnitOfWork
from sensorhub.bootstrap import Services
from sensorhub.domain.errors import ConflictingState, InvalidCommand
from sensorhub.eventstore.catalog import build_registry
from sensorhub.eventstore.registry import EventTypeRegistry
from sensorhub.eventstore.unit_of_work import postgres_unit_of_work
from sensorhub.http.problems import ProblemError

_ETAG = re.compile(r'^\s*(?:W/)?"?([0-9]{1,18})"?\s*$')


@dataclass(frozen=True)
class WriteSide:
    services: Services
    registry: EventTypeRegistry
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def unit_of_work(self, context: CommandContext | None = None) -> AbstractAsyncContextManager[UnitOfWork]:
        return postgres_unit_of_work(
            self.services.pool,
            self.registry,
            context=context,
            snapshot_every=self.services.settings.snapshot_every,
            notifier=self.services.append_notifier,
        )

    def new_uow(self, context: CommandContext) -> Callable[[], AbstractAsyncContextManager[UnitOfWork]]:
        return lambda: self.unit_of_work(context)


def write_side(services: Services) -> WriteSide:
    """One per process, kept in ``services.extras`` (built on first use)."""
    found = services.extras.get("write_side")
    if not isinstance(found, WriteSide):
        found = WriteSide(services, build_registry())
        services.extras["write_side"] = found
    return found


def command_context(request: Request[Any, Any, Any]) -> CommandContext:
    key: ApiKey = request.user
    request_id = request.headers.get("x-request-id")
    return CommandContext(
        actor=key.key_id,
        correlation_id=request.headers.get("x-correlation-id") or request_id,
        causation_id=request.headers.get("idempotency-key") or request_id,
    )


def if_match(request: Request[Any, Any, Any]) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    match = _ETAG.match(raw)
    if match is None:
        message = f'If-Match must be an ETag this API returned, such as "3"; got {raw!r}'
        raise ProblemError(422, message, extra={"errors": [{"field": "If-Match", "message": message}]})
    return int(match[1])


@contextmanager
def translated_errors() -> Iterator[None]:
    """Application and domain errors as problem responses."""
    try:
        yield
    except NotFound as exc:
        raise ProblemError(404, str(exc)) from None
    except VersionMismatch as exc:
        raise ProblemError(
            412,
            str(exc),
            extra={"current_version": exc.current_version},
            headers={"ETag": etag(exc.current_version)},
        ) from None
    except (AlreadyExists, ConflictingState, TooMuchContention) as exc:
        raise ProblemError(409, str(exc)) from None
    except InvalidCommand as exc:
        raise ProblemError(422, str(exc), extra={"errors": [{"field": "body", "message": str(exc)}]}) from None
    except UnknownPosition as exc:
        raise ProblemError(404, str(exc)) from None


def etag(version: int) -> str:
    return f'"{version}"'


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


_REPLAYED_HEADERS = ("etag", "x-position", "location")
MAX_IDEMPOTENCY_KEY = 200


def canonical_body(body: bytes) -> bytes:
    """A JSON body with sorted keys and no whitespace (the same command however it was spelled);
    anything else as sent."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return body


async def idempotent(
    request: Request[Any, Any, Any], services: Services, run: Callable[[], Awaitable[Response[bytes]]]
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
        raise ProblemError(422, message, extra={"errors": [{"field": "Idempotency-Key", "message": message}]})
    if len(key) > MAX_IDEMPOTENCY_KEY:
        message = f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters (a UUID is 36)"
        raise ProblemError(422, message, extra={"errors": [{"field": "Idempotency-Key", "message": message}]})
    key_id = request.user.key_id
    digest = hashlib.sha256(
        b"\0".join([request.method.encode(), request.url.path.encode(), canonical_body(await request.body())])
    ).digest()
    async with services.pool.acquire() as conn:
        stored = await conn.fetchrow(
            "SELECT request_hash, status_code, headers, body FROM idempotency_keys WHERE key_id = $1 AND key = $2",
            key_id,
            key,
        )
    if stored is not None:
        if bytes(stored["request_hash"]) != digest:
            raise ProblemError(
                422, "this Idempotency-Key was already used with a different request; use a new key per command"
            )
        return Response(
            bytes(stored["body"]),
            status_code=stored["status_code"],
            media_type="application/json",
            headers={**stored["headers"], "Idempotent-Replayed": "true"},
        )
    response = await run()
    body = response.content if isinstance(response.content, bytes) else b""
    headers = {k: v for k, v in response.headers.items() if k.lower() in _REPLAYED_HEADERS}
    async with services.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO idempotency_keys (key, key_id, request_hash, status_code, headers, body)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id, key) DO NOTHING",
            key,
            key_id,
            digest,
            response.status_code,
            headers,
            body,
        )
    return response
