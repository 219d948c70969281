"""API keys: random 256-bit secrets, stored as SHA-256 digests, with scopes.

A fast digest is the right tool for high-entropy random tokens (as GitHub and
Stripe tokens are stored); the bootstrap key, chosen by an operator, must be
at least 16 characters. The clear key is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

SCOPES = ("read", "write", "ingest", "admin")
KEY_PREFIX = "shk_"


class UnknownScopeError(ValueError):
    pass


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        """``admin`` grants every scope."""
        return scope in self.scopes or "admin" in self.scopes


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise UnknownScopeError(f"unknown scope(s) {', '.join(unknown)}; expected some of {', '.join(SCOPES)}")
    if not scopes:
        raise UnknownScopeError(f"at least one scope is needed: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in scopes)


def _row(row: asyncpg.Record) -> ApiKey:
    return ApiKey(row["key_id"], row["name"], tuple(row["scopes"]), row["created_at"], row["revoked_at"])


_COLUMNS = "key_id, name, scopes, created_at, revoked_at"


async def create(conn: Any, name: str, scopes: list[str] | tuple[str, ...]) -> tuple[ApiKey, str]:
    """Create a key; return it with the clear secret (shown once)."""
    wanted = check_scopes(scopes)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(6)
    row = await conn.fetchrow(
        f"INSERT INTO api_keys (key_id, name, key_hash, scopes) VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
        key_id,
        name,
        digest(secret),
        list(wanted),
    )
    return _row(row), secret


async def ensure_bootstrap(conn: Any, secret: str) -> ApiKey:
    """Make sure an admin key with exactly this value exists and is active."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO api_keys (key_id, name, key_hash, scopes)
        VALUES ('key_bootstrap_' || substr(md5(random()::text), 1, 8), 'bootstrap admin', $1, $2)
        ON CONFLICT (key_hash) DO UPDATE SET revoked_at = NULL, scopes = EXCLUDED.scopes
        RETURNING {_COLUMNS}
        """,
        digest(secret),
        list(SCOPES),
    )
    return _row(row)


async def authenticate(conn: Any, secret: str) -> ApiKey | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", digest(secret)
    )
    return None if row is None else _row(row)


async def list_keys(conn: Any, *, after: tuple[datetime, str] | None = None, limit: int | None = None) -> list[ApiKey]:
    """Oldest first; ``after``: the (created_at, key_id) of the last key of the previous page."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM api_keys WHERE $1::timestamptz IS NULL OR (created_at, key_id) > ($1, $2)"
        " ORDER BY created_at, key_id LIMIT $3",
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_row(r) for r in rows]


async def revoke(conn: Any, key_id: str) -> bool:
    status = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL", key_id
    )
    return bool(status.endswith(" 1"))
