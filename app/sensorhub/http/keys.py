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
from sensorhub.http.problems import ProblemError


class KeyView(msgspec.Struct):
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class NewKey(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    scopes: list[str]


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
    async def list_keys(self, pool: deps.Injected[asyncpg.Pool]) -> list[KeyView]:
        """Every key, active and revoked (never their secrets)."""
        async with pool.acquire() as conn:
            return [view(k) for k in await apikeys.list_keys(conn)]

    @post("/", opt={"scope": "admin"}, status_code=HTTP_201_CREATED, operation_id="createKey")
    async def create_key(self, pool: deps.Injected[asyncpg.Pool], data: JSONBody[NewKey]) -> CreatedKey:
        """Create a key; the secret is returned once and not stored."""
        if not data.name.strip():
            raise ProblemError(422, "name must not be empty", extra={"errors": [{"field": "name", "message": "empty"}]})
        try:
            scopes = apikeys.check_scopes(data.scopes)
        except apikeys.UnknownScopeError as exc:
            raise ProblemError(422, str(exc), extra={"errors": [{"field": "scopes", "message": str(exc)}]}) from None
        async with pool.acquire() as conn:
            key, secret = await apikeys.create(conn, data.name.strip(), scopes)
        return CreatedKey(key.key_id, key.name, list(key.scopes), key.created_at, key.revoked_at, secret)

    @delete("/{key_id:str}", opt={"scope": "admin"}, operation_id="revokeKey")
    async def revoke_key(self, pool: deps.Injected[asyncpg.Pool], key_id: FromPath[str]) -> None:
        """Revoke a key; it is refused from the next request on."""
        async with pool.acquire() as conn:
            if not await apikeys.revoke(conn, key_id):
                raise ProblemError(404, f"no active key with id {key_id!r}")
