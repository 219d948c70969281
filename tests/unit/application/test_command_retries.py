"""``execute`` re-runs a command whose transaction the database aborted (a deadlock victim)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sensorhub.application.commands import execute
from sensorhub.application.errors import TooMuchContention, TransientWriteError
from sensorhub.application.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Rename:
    expected_version: int | None


@asynccontextmanager
async def no_uow() -> AsyncIterator[Any]:
    yield None


@pytest.mark.parametrize("expected_version", [None, 3])
async def test_a_deadlock_victim_is_run_again_with_or_without_if_match(expected_version: int | None) -> None:
    runs: list[int] = []

    async def handler(cmd: Rename, uow: UnitOfWork) -> str:
        runs.append(1)
        if len(runs) < 3:
            raise TransientWriteError("deadlock detected")
        return "done"

    assert await execute(handler, Rename(expected_version), no_uow) == "done"
    assert len(runs) == 3


async def test_a_command_that_keeps_deadlocking_gives_up_with_a_conflict() -> None:
    async def handler(cmd: Rename, uow: UnitOfWork) -> str:
        raise TransientWriteError("deadlock detected")

    with pytest.raises(TooMuchContention, match="retry later"):
        await execute(handler, Rename(None), no_uow, attempts=2)
