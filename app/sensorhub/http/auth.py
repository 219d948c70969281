"""API-key authentication (middleware) and scope checks (guard).

Secure by default: a route without ``opt={"scope": ...}`` refuses every key
unless it is one of the public paths.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from sensorhub import apikeys
from sensorhub.http.dependencies import services_of

PUBLIC_PATHS = ("/health", "/metrics", "/schema")
# A browser's EventSource cannot send headers: the alert stream also takes the key as
# ``?access_token=`` (never logged: the access log records paths without their query).
QUERY_TOKEN_PATHS = frozenset({"/v1/alerts/stream"})


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and connection.scope["path"] in QUERY_TOKEN_PATHS:
            scheme, token = "bearer", connection.query_params.get("access_token", "")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException(
                "missing API key: send `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        async with services_of(connection.app.state).pool.acquire() as conn:
            key = await apikeys.authenticate(conn, token.strip())
        if key is None:
            raise NotAuthorizedException(
                "unknown or revoked API key", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return AuthenticationResult(user=key, auth=token)


def scope_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    # OPTIONS (Allow, CORS preflight) is answered without a key: it reveals no data.
    if connection.scope["path"].startswith(PUBLIC_PATHS) or connection.scope.get("method") == "OPTIONS":
        return
    needed = handler.opt.get("scope")
    key: apikeys.ApiKey = connection.user
    if needed == "any":
        return
    if needed is None or not key.allows(str(needed)):
        raise PermissionDeniedException(
            f"this API key lacks the `{needed}` scope" if needed else "this route is not available to API keys"
        )
