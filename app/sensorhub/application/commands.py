"""Running a command handler in a fresh unit of work, with bounded retries on write races."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sensorhub.application.errors import (
    AppendConditionFailed,
    ConcurrencyError,
    TooMuchContention,
    TransientWriteError,
    VersionMismatch,
)
from sensorhub.application.unit_of_work import UnitOfWork

C = TypeVar("C")
R = TypeVar("R")
UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


async def execute(
    handler: Callable[[C, UnitOfWork], Awaitable[R]],
    command: C,
    new_uow: UnitOfWorkFactory,
    *,
    attempts: int = 5,
) -> R:
    """Run ``handler(command, uow)``. When another writer wins the race between load and append:
    with an ``expected_version`` (``If-Match``) that is the caller's conflict (VersionMismatch);
    without one the command is re-run on fresh state, up to ``attempts`` times. A transaction the
    database aborted (deadlock victim), or whose condition across streams was overtaken
    (AppendConditionFailed: another command changed what it decided on), wrote nothing: it is
    re-run on fresh state either way, and decides again."""
    expected: Any = getattr(command, "expected_version", None)
    for attempt in range(1, attempts + 1):
        try:
            async with new_uow() as uow:
                return await handler(command, uow)
        except ConcurrencyError as exc:
            if expected is not None:
                raise VersionMismatch("stream", exc.stream_id, expected, exc.actual_version) from None
            if attempt == attempts:
                raise TooMuchContention(
                    f"{exc.stream_id} changed under this command {attempts} times in a row; retry later"
                ) from None
        except (TransientWriteError, AppendConditionFailed) as exc:
            if attempt == attempts:
                raise TooMuchContention(f"{exc} ({attempts} times in a row); retry later") from None
        await asyncio.sleep(random.uniform(0, 0.005 * attempt))
    raise AssertionError("unreachable")
