"""Small value types shared by devices and alerts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sensorhub.domain.errors import InvalidCommand, InvalidThreshold

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str


@dataclass(frozen=True)
class Bounds:
    """A threshold's limits: a reading outside ``[min, max]`` breaks it. At least one is set."""

    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


def check_severity(severity: str) -> Severity:
    for known in SEVERITIES:
        if severity == known:
            return known
    raise InvalidCommand(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")


def check_bounds(min_: float | None, max_: float | None) -> Bounds:
    if min_ is None and max_ is None:
        raise InvalidThreshold("a threshold needs at least one bound: give `min`, `max` or both")
    for name, value in (("min", min_), ("max", max_)):
        if value is not None and not math.isfinite(value):
            raise InvalidThreshold(f"`{name}` must be a finite number, got {value!r}")
    if min_ is not None and max_ is not None and min_ >= max_:
        raise InvalidThreshold(f"`min` must be less than `max` (got min={min_}, max={max_})")
    return Bounds(min_, max_)


def check_text(field: str, value: str, *, max_length: int = 200) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidCommand(f"`{field}` must not be empty")
    if len(cleaned) > max_length:
        raise InvalidCommand(f"`{field}` is longer than {max_length} characters")
    if "\x00" in cleaned:
        raise InvalidCommand(f"`{field}` must not contain NUL characters")
    return cleaned
