"""What every read-model endpoint shares: read-your-writes (``X-Min-Position`` / ``min_position``
with a bounded wait and ``X-Stale``), the read cache, and opaque cursors."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar.params import HeaderParameter, QueryParameter

from sensorhub.application.ports import RecordedEvent
from sensorhub.db import Conn
from sensorhub.http.problems import ProblemError, invalid
from sensorhub.projections import store
from sensorhub.projections.cache import ReadCache

MAX_POSITION = 2**63 - 1
MAX_VERSION = 2**63 - 1
# A stream page's cursor: a stream version (1..MAX_VERSION; 18 digits keep every match in range).
VERSION_CURSOR = "^[1-9][0-9]{0,17}$"
MinPositionHeader = Annotated[
    int | None,
    HeaderParameter(
        name="X-Min-Position",
        ge=0,
        le=MAX_POSITION,
        required=False,
        description="Wait (bounded) until the read models include this position (from a command's `X-Position`)",
    ),
]
MinPositionQuery = Annotated[
    int | None,
    QueryParameter(
        name="min_position", ge=0, le=MAX_POSITION, required=False, description="Same as the `X-Min-Position` header"
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size (default 50, at most 1000)")]
Cursor = Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")]
# A stream's page (device and alert events): `from_version`, or the previous page's `next_cursor`.
FromVersion = Annotated[int, QueryParameter(ge=1, le=MAX_VERSION, description="First stream version to return")]
VersionCursor = Annotated[
    str | None,
    QueryParameter(
        pattern=VERSION_CURSOR, description="`next_cursor` of the previous page (instead of `from_version`)"
    ),
]


@dataclass(frozen=True)
class ReadModels:
    pool: asyncpg.Pool
    cache: ReadCache
    wait_timeout_s: float

    async def consistent(self, projections: tuple[str, ...], *positions: int | None) -> dict[str, str]:
        """Headers for a read that asked for ``positions``: wait up to ``wait_timeout_s`` for
        ``projections`` to include the highest; ``X-Stale: true`` when they did not (also for a
        position no event has yet)."""
        wanted = max((p for p in positions if p is not None), default=None)
        if wanted is None or wanted == 0:
            return {}
        deadline = time.monotonic() + self.wait_timeout_s
        delay = 0.005
        while True:
            async with self.pool.acquire() as conn:
                done = await store.reached(conn, projections, wanted)
            # None: no event has that position yet (a command committing on another replica, or a
            # position that will never exist): wait like for any other, then answer stale.
            if done:
                return {}
            if time.monotonic() + delay > deadline:
                return {"X-Stale": "true"}
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def cached(self, projection: str, key: str, load: Callable[[], Awaitable[bytes]], *, fresh: bool) -> bytes:
        """``fresh``: a read-your-writes request, answered from the database itself."""
        return await load() if fresh else await self.cache.get_or_load(projection, key, load)

    async def detail(
        self, projection: str, key: str, fetch: Callable[[Conn], Awaitable[bytes]], positions: tuple[int | None, ...]
    ) -> tuple[bytes, dict[str, str]] | None:
        """One row of a read model as cached JSON, with the consistency headers; None when the read
        model does not have it (yet). ``fetch`` returns b"" for a missing row."""
        headers = await self.consistent((projection,), *positions)

        async def load() -> bytes:
            async with self.pool.acquire() as conn:
                return await fetch(conn)

        body = await self.cached(projection, key, load, fresh=any(p for p in positions))
        return (body, headers) if body else None


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str, shape: type[Any]) -> Any:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=shape)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        message = "`cursor` is not one this API returned; pass `next_cursor` from the previous page unchanged"
        raise ProblemError(422, message, extra={"errors": [{"field": "cursor", "message": message}]}) from None


def stream_page_start(cursor: str | None, from_version: int) -> int:
    """The first stream version of the page asked for: the ``cursor``'s when given."""
    if cursor is None:
        return from_version
    if not cursor.isdigit() or not 1 <= int(cursor) <= MAX_VERSION:
        message = "`cursor` is not one this API returned; pass `next_cursor` from the previous page unchanged"
        raise invalid("cursor", message)
    return int(cursor)


def stream_next_cursor(records: Sequence[RecordedEvent], limit: int) -> str | None:
    """A full page's ``next_cursor``: the version after its last event (None after a short page)."""
    return str(records[-1].stream_version + 1) if records and len(records) == limit else None
