"""A duty cycle for background work that must yield to foreground work (the compression job).

After each unit of work (one group transaction) that was busy for ``b`` seconds, ``DutyCycle.rest``
sleeps ``b * (1 - duty) / duty`` seconds, so that the work is busy for at most ``duty`` of the wall
time: 0.25 means one second of packing, three seconds of pause. ``duty`` 1 never pauses. The caller
rests outside any transaction and lock, so the pause holds nothing anyone waits for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def check_duty(duty: float) -> float:
    """``duty`` as a share of wall time in (0, 1], or a ValueError that says what it is."""
    if not 0 < duty <= 1:  # also rejects NaN
        raise ValueError(
            f"the share of wall time compression may be busy must be in (0, 1] (1: no pause, 0.25: a quarter), "
            f"got {duty}"
        )
    return duty


@dataclass
class DutyCycle:
    duty: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    busy_s: float = 0.0  # totals, for reports
    paused_s: float = 0.0

    def __post_init__(self) -> None:
        check_duty(self.duty)

    def pause_for(self, busy_s: float) -> float:
        return max(0.0, busy_s) * (1.0 - self.duty) / self.duty

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` and then rest in proportion to the time it took."""
        started = self.clock()
        result = await work()
        busy = self.clock() - started
        self.busy_s += busy
        pause = self.pause_for(busy)
        if pause > 0:
            self.paused_s += pause
            await self.sleep(pause)
        return result
