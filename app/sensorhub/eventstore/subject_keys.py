"""Data subjects' keys: the ``subject_keys`` table (migration 0010), each key wrapped by a
key-encryption key — a local key file, or a KMS key (``key_wrappers``) — and forgetting one.

The table is the authority: a key is usable exactly while its row exists. Unwrapped keys are
cached in process (by subject, key id *and* wrapped bytes) only to spare the wrapper (a KMS call)
on every read; a lookup still reads the row, so a forget — in any process — takes effect at once.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Protocol

import asyncpg

from sensorhub.application.ports import DataKey, Forgotten
from sensorhub.application.stored_events import NewEvent
from sensorhub.db import Conn
from sensorhub.eventstore.memory import InMemoryEventStore
from sensorhub.eventstore.notify import AppendNotifier
from sensorhub.eventstore.postgres import PostgresEventStore

SUBJECT_STREAM_TYPE = "Subject"
KEY_BYTES = 32


def subject_stream(subject_id: str) -> str:
    return f"subject-{subject_id}"


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys with a key-encryption key (a key file, a KMS key)."""

    name: str  # recorded beside each wrapped key (``file``, ``kms:<key id>``)

    async def wrap(self, subject_id: str, key: bytes) -> bytes: ...

    async def unwrap(self, subject_id: str, wrapped: bytes) -> bytes: ...


class KeyCache:
    """Unwrapped keys by (subject, key id, wrapped bytes), for ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[tuple[str, str, bytes], tuple[float, bytes]] = {}

    def get(self, subject_id: str, key_id: str, wrapped: bytes) -> bytes | None:
        found = self._entries.get((subject_id, key_id, wrapped))
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, subject_id: str, key_id: str, wrapped: bytes, secret: bytes) -> None:
        if self._ttl_s > 0:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[(subject_id, key_id, wrapped)] = (time.monotonic() + self._ttl_s, secret)

    def evict(self, subject_id: str) -> None:
        for entry in [e for e in self._entries if e[0] == subject_id]:
            del self._entries[entry]


class PostgresSubjectKeys:
    """Subject keys on a connection (to join its transaction: a command's, the projector's) or a pool."""

    def __init__(
        self,
        db: Conn | asyncpg.Pool,
        wrapper: KeyWrapper,
        cache: KeyCache | None = None,
        *,
        notifier: AppendNotifier | None = None,
    ) -> None:
        self._db = db
        self._notifier = notifier
        self._wrapper = wrapper
        self._cache = cache if cache is not None else KeyCache(0)

    async def find(self, subject_ids: Collection[str]) -> dict[str, DataKey]:
        if not subject_ids:
            return {}
        rows = await self._db.fetch(
            "SELECT subject_id, key_id::text, wrapped_key FROM subject_keys WHERE subject_id = ANY($1::text[])",
            list(subject_ids),
        )
        return {r["subject_id"]: await self._unwrapped(r["subject_id"], r["key_id"], r["wrapped_key"]) for r in rows}

    async def ensure(self, subject_ids: Collection[str]) -> dict[str, DataKey]:
        found = await self.find(subject_ids)
        for subject_id in sorted(set(subject_ids) - set(found)):
            secret = os.urandom(KEY_BYTES)
            key_id = str(uuid.uuid4())
            wrapped = await self._wrapper.wrap(subject_id, secret)
            # A concurrent writer may have made the subject's key first: then that one is used.
            await self._db.execute(
                "INSERT INTO subject_keys (subject_id, key_id, wrapped_key, wrapped_by) VALUES ($1, $2::uuid, $3, $4)"
                " ON CONFLICT (subject_id) DO NOTHING",
                subject_id,
                key_id,
                wrapped,
                self._wrapper.name,
            )
        missing = set(subject_ids) - set(found)
        return found | (await self.find(missing) if missing else {})

    async def forget(self, subject_id: str, audit: Callable[[bool], NewEvent]) -> Forgotten:
        async with self._connection() as conn, conn.transaction():
            destroyed = await conn.fetchval("DELETE FROM subject_keys WHERE subject_id = $1 RETURNING true", subject_id)
            result = await PostgresEventStore(conn).append(
                subject_stream(subject_id), SUBJECT_STREAM_TYPE, [audit(bool(destroyed))], "any"
            )
        self._cache.evict(subject_id)
        if self._notifier is not None:
            self._notifier.committed(result.position)
        return Forgotten(subject_id, bool(destroyed), result.position)

    async def _unwrapped(self, subject_id: str, key_id: str, wrapped: bytes) -> DataKey:
        secret = self._cache.get(subject_id, key_id, wrapped)
        if secret is None:
            secret = await self._wrapper.unwrap(subject_id, wrapped)
            self._cache.put(subject_id, key_id, wrapped, secret)
        return DataKey(subject_id, key_id, secret)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        if isinstance(self._db, asyncpg.Pool):
            async with self._db.acquire() as conn:
                yield conn
        else:
            yield self._db


class InMemorySubjectKeys:
    """Subject keys beside an :class:`InMemoryEventStore` (unit tests); no wrapping."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        self._keys: dict[str, DataKey] = {}

    async def find(self, subject_ids: Collection[str]) -> dict[str, DataKey]:
        return {s: self._keys[s] for s in subject_ids if s in self._keys}

    async def ensure(self, subject_ids: Collection[str]) -> dict[str, DataKey]:
        for subject_id in subject_ids:
            if subject_id not in self._keys:
                self._keys[subject_id] = DataKey(subject_id, str(uuid.uuid4()), os.urandom(KEY_BYTES))
        return await self.find(subject_ids)

    async def forget(self, subject_id: str, audit: Callable[[bool], NewEvent]) -> Forgotten:
        destroyed = self._keys.pop(subject_id, None) is not None
        event = audit(destroyed)
        result = await self._store.append(subject_stream(subject_id), SUBJECT_STREAM_TYPE, [event], "any")
        return Forgotten(subject_id, destroyed, result.position)


class NoSubjectKeys:
    """Where no key store was given: personal data is never stored in plain text (writing some
    fails) and sealed data reads as erased."""

    async def find(self, subject_ids: Collection[str]) -> dict[str, DataKey]:
        return {}

    async def ensure(self, subject_ids: Collection[str]) -> dict[str, DataKey]:
        raise RuntimeError("personal data cannot be stored here: this event store was built without subject keys")

    async def forget(self, subject_id: str, audit: Callable[[bool], NewEvent]) -> Forgotten:
        raise RuntimeError("subjects cannot be forgotten here: this event store was built without subject keys")
