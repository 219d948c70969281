"""Stored responses to ``Idempotency-Key`` requests, in PostgreSQL (table ``idempotency_keys``)."""

from __future__ import annotations

import asyncpg

from sensorhub.application.ports import StoredResponse


class PostgresIdempotencyRecords:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, key_id: str, key: str) -> StoredResponse | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT request_hash, status_code, headers, body FROM idempotency_keys WHERE key_id = $1 AND key = $2",
                key_id,
                key,
            )
        if row is None:
            return None
        return StoredResponse(bytes(row["request_hash"]), row["status_code"], dict(row["headers"]), bytes(row["body"]))

    async def save(self, key_id: str, key: str, response: StoredResponse) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO idempotency_keys (key, key_id, request_hash, status_code, headers, body)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id, key) DO NOTHING",
                key,
                key_id,
                response.request_hash,
                response.status_code,
                response.headers,
                response.body,
            )
