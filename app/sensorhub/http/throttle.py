"""Rate limits at the HTTP edge: a guard charges each request to its API key and scope (1 unit;
ingest charges its rows itself, once parsed), refuses with 429 over the quota, and a middleware
puts the ``RateLimit`` headers on every limited response."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from sensorhub.http.problems import ProblemError
from sensorhub.rate_limits import Decision, RateLimiter, headers

STATE_KEY = "rate_limit"
ROWS = "rows"  # ``opt={"cost": ROWS}``: the handler charges its rows with ``charge``


def limiter_of(connection: ASGIConnection[Any, Any, Any, Any]) -> RateLimiter | None:
    return getattr(connection.app.state, "rate_limiter", None)


async def charge(connection: ASGIConnection[Any, Any, Any, Any], scope: str, cost: int) -> None:
    """Charge ``cost`` units of ``scope`` to the request's key; 429 over the quota."""
    limiter = limiter_of(connection)
    if limiter is None or cost <= 0:
        return
    decision = await limiter.take(connection.user.key_id, scope, cost)
    if decision is None:
        return
    connection.scope.setdefault("state", {})[STATE_KEY] = decision  # pyright: ignore[reportTypedDictNotRequiredAccess]
    if not decision.allowed:
        raise _refused(decision, cost)


def _refused(decision: Decision, cost: int) -> ProblemError:
    if cost > decision.limit:
        detail = (
            f"this request costs {cost} units of `{decision.policy}` (one per row) and the quota is "
            f"{decision.limit} per {decision.window_s} s: split it into smaller batches"
        )
    else:
        detail = (
            f"rate limit of {decision.limit} `{decision.policy}` units per {decision.window_s} s reached "
            f"for this API key; retry in {decision.retry_after_s} s"
        )
    return ProblemError(429, detail, headers=headers(decision))


async def rate_limit_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """After ``scope_guard``; public routes (no key) and row-charged routes are skipped here."""
    scope = handler.opt.get("scope")
    if scope is None or handler.opt.get("cost") == ROWS or "user" not in connection.scope:
        return
    await charge(connection, "read" if scope == "any" else str(scope), 1)


def rate_limit_headers_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            decision = scope.get("state", {}).get(STATE_KEY)
            if message["type"] == "http.response.start" and isinstance(decision, Decision):
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in headers(decision).items()]
                message["headers"] = [  # type: ignore[typeddict-unknown-key]
                    *message.get("headers", []),
                    *(h for h in extra if h[0] not in present),
                ]
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
