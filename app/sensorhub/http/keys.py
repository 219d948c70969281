"""API keys over HTTP: who am I (any key), and key management (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from sensorhub import apikeys
from sensorhub.http import dependencies as deps
from sensorhub.http.openapi import documented
from sensorhub.http.problems import ProblemError
from sensorhub.http.reads import Cursor, Limit, decode_cursor, encode_cursor
from sensorhub.http.views import NewKey


class KeyView(msgspec.Struct):
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class KeyPage(msgspec.Struct):
    items: list[KeyView]
    next_cursor: str | None


class CreatedKey(KeyView):
    secret: str


def view(key: apikeys.ApiKey) -> KeyView:
    return KeyView(key.key_id, key.name, list(key.scopes), key.created_at, key.revoked_at)


class KeysController(Controller):
    path = "/v1/keys"
    tags = ["keys"]
    dependencies = {"pool": deps.POOL}

    @get("/me", opt={"scope": "any"}, operation_id="whoAmI")
    async def me(self, request: Request[apikeys.ApiKey, Any, Any]) -> KeyView:
        """The key making this request (any scope)."""
        return view(request.user)

    @get("/", opt={"scope": "admin"}, operation_id="listKeys")
    async def list_keys(self, pool: deps.Injected[asyncpg.Pool], limit: Limit = 50, cursor: Cursor = None) -> KeyPage:
        """Every key, active and revoked, oldest first (never their secrets)."""
        after = decode_cursor(cursor, tuple[datetime, str]) if cursor else None
        async with pool.acquire() as conn:
            keys = await apikeys.list_keys(conn, after=after, limit=limit + 1)
        items = [view(k) for k in keys[:limit]]
        more = len(keys) > limit
        return KeyPage(items, encode_cursor(items[-1].created_at, items[-1].key_id) if more else None)

    @post("/", opt={"scope": "admin"}, status_code=HTTP_201_CREATED, operation_id="createKey")
    async def create_key(self, pool: deps.Injected[asyncpg.Pool], data: JSONBody[NewKey]) -> CreatedKey:
        """Create a key; the secret is returned once and not stored."""
        if not data.name.strip():
            raise ProblemError(422, "name must not be empty", extra={"errors": [{"field": "name", "message": "empty"}]})
        try:
            scopes = apikeys.check_scopes(list(data.scopes))
        except apikeys.UnknownScopeError as exc:
            raise ProblemError(422, str(exc), extra={"errors": [{"field": "scopes", "message": str(exc)}]}) from None
        async with pool.acquire() as conn:
            key, secret = await apikeys.create(conn, data.name.strip(), scopes)
        return CreatedKey(key.key_id, key.name, list(key.scopes), key.created_at, key.revoked_at, secret)

    @delete("/{key_id:str}", opt={"scope": "admin"}, operation_id="revokeKey", responses=documented(None, 404, 409))
    async def revoke_key(
        self, request: Request[apikeys.ApiKey, Any, Any], pool: deps.Injected[asyncpg.Pool], key_id: FromPath[str]
    ) -> None:
        """Revoke a key; it is refused from the next request on. Not the key making the request
        (409): an admin could lock themselves out; revoke it with another admin key."""
        if key_id == request.user.key_id:
            raise ProblemError(409, "this is the key making the request: revoke it with another admin key")
        async with pool.acquire() as conn:
            if not await apikeys.revoke(conn, key_id):
                raise ProblemError(404, f"no active key with id {key_id!r}")
