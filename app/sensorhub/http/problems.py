"""Errors as ``application/problem+json`` (RFC 9457): no stack traces, no SQL.

Raise :class:`ProblemError` from handlers, and wrap application calls in
:func:`translated_errors`; everything unexpected becomes a bare 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY, HTTP_500_INTERNAL_SERVER_ERROR

from sensorhub.application.errors import (
    AlreadyExists,
    NotFound,
    StreamArchived,
    TooMuchContention,
    UnknownPosition,
    VersionMismatch,
)
from sensorhub.domain.errors import ConflictingState, DeviceGone, InvalidCommand
from sensorhub.http.field_errors import field_errors
from sensorhub.observability import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger("sensorhub.http")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ProblemError(Exception):
    """An error with an HTTP status and a message meant for the API consumer."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.extra = extra or {}
        self.headers = headers or {}


def etag(version: int) -> str:
    return f'"{version}"'


@contextmanager
def translated_errors() -> Iterator[None]:
    """Application and domain errors as problem responses."""
    try:
        yield
    except (NotFound, DeviceGone) as exc:
        raise ProblemError(404, str(exc)) from None
    except VersionMismatch as exc:
        raise ProblemError(
            412,
            str(exc),
            extra={"current_version": exc.current_version},
            headers={"ETag": etag(exc.current_version)},
        ) from None
    except (AlreadyExists, ConflictingState, TooMuchContention, StreamArchived) as exc:
        raise ProblemError(409, str(exc)) from None
    except InvalidCommand as exc:
        raise ProblemError(422, str(exc), extra={"errors": [{"field": "body", "message": str(exc)}]}) from None
    except UnknownPosition as exc:
        raise ProblemError(404, str(exc)) from None


def invalid(field: str, message: str) -> ProblemError:
    """A 422 naming the request field that is wrong."""
    return ProblemError(422, message, extra={"errors": [{"field": field, "message": message}]})


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    slug = (title or _TITLES.get(status, "error")).lower().replace(" ", "-")
    body: dict[str, Any] = {
        "type": f"urn:sensorhub:problem:{slug}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(extra or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def handle_problem(_: Request[Any, Any, Any], exc: ProblemError) -> Response[dict[str, Any]]:
    return problem(exc.status, exc.detail, title=exc.title, extra=exc.extra, headers=exc.headers)


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = field_errors(request, exc)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
    return problem(HTTP_422_UNPROCESSABLE_ENTITY, detail, extra={"errors": errors})


def handle_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    return problem(exc.status_code, str(exc.detail), headers=headers)


def handle_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.warning("dependency unavailable", path=request.url.path, error=type(exc).__name__)
    return problem(503, "the database is unavailable; retry shortly", headers={"Retry-After": "1"})


def handle_other(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if is_unavailable(exc):
        return handle_unavailable(request, exc)
    if isinstance(exc, asyncpg.UntranslatableCharacterError | asyncpg.CharacterNotInRepertoireError):
        # e.g. a NUL character (\u0000) in a string: PostgreSQL text and jsonb cannot hold it.
        return problem(422, "a text value contains a character that cannot be stored (such as \\u0000)")
    if isinstance(exc, asyncpg.DataError):
        # SQLSTATE class 22 and asyncpg's own parameter-encoding failures: our SQL is static, so the
        # value came from the request (a number beyond bigint, a date before year 1 after its offset).
        log.warning("request value refused by the database", path=request.url.path, error=type(exc).__name__)
        if "out of int64 range" in str(exc):
            return problem(422, "a number in the request is out of range (the largest is 9223372036854775807)")
        return problem(422, "a value in the request is out of the range the database can store or compare")
    if isinstance(exc, RecursionError) and "deserializing" in str(exc):
        # msgspec refuses JSON nested deeper than the interpreter's recursion limit: a bad body, not a bug.
        return problem(400, "the JSON body is nested too deeply")
    log.exception("unhandled error", path=request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "an unexpected error occurred; it has been logged")


# Errors meaning "the database (or the network to it) is gone for now".
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InvalidCatalogNameError,  # the database is gone (dropped, being restored): not a bug here
    ConnectionError,
    TimeoutError,
    OSError,
)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, UNAVAILABLE):
        return True
    # A pooled connection that the server closed while it sat idle (restart, failover) fails its next
    # query with this asyncpg-internal error before asyncpg notices the closed socket; the pool
    # replaces the connection afterwards. Other InternalClientErrors are bugs and stay 500s.
    return isinstance(exc, asyncpg.InternalClientError) and "another operation" in str(exc)


def exception_handlers() -> dict[Any, Any]:
    return {
        ProblemError: handle_problem,
        ValidationException: handle_validation,
        HTTPException: handle_http,
        Exception: handle_other,
    }


__all__ = [
    "PROBLEM_JSON",
    "ProblemError",
    "etag",
    "exception_handlers",
    "invalid",
    "problem",
    "translated_errors",
]
