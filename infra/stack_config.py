"""Reading one ``sensorhub:<key>`` object of a stack file: typed accessors whose errors say what is right.

Each component reads its own section beside its settings dataclass (``NetworkSettings.read`` in
``components/network.py``); ``infra.settings.load`` only composes them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, cast

PROJECT = "sensorhub"


class SettingsError(ValueError):
    """A stack file value is missing, mistyped or breaks a hardening rule."""


class Section:
    """One config object (``sensorhub:<key>``) with typed, self-explaining accessors."""

    def __init__(self, stack: str, path: str, raw: object) -> None:
        self.stack = stack
        self.path = path
        if not isinstance(raw, Mapping):
            self.fail(f"must be an object (a YAML mapping), got {describe(raw)}")
        self.raw = cast(Mapping[str, Any], raw)
        self.used: set[str] = set()

    def fail(self, message: str, key: str | None = None) -> NoReturn:
        where = f"{self.path}.{key}" if key else self.path
        raise SettingsError(f"Pulumi.{self.stack}.yaml: {where} {message}")

    def _get(self, key: str, *, optional: bool = False) -> object:
        self.used.add(key)
        if key not in self.raw or self.raw[key] is None:
            if optional:
                return None
            self.fail("is missing", key)
        return self.raw[key]

    def string(self, key: str, *, optional: bool = False) -> str:
        value = self._get(key, optional=optional)
        if value is None:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(f"must be a non-empty string, got {describe(value)}", key)
        return cast(str, value)

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be an integer between {low} and {high}, got {describe(value)}", key)
        number = cast(int, value)
        if not low <= number <= high:
            self.fail(f"must be between {low} and {high}, got {number}", key)
        return number

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            self.fail(f"must be true or false, got {describe(value)}", key)
        return cast(bool, value)

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self._get(key)
        if value not in allowed:
            options = " or ".join(repr(a) for a in allowed)
            self.fail(f"must be {options}, got {describe(value)}", key)
        return cast(str, value)

    def cidr(self, key: str) -> str:
        value = self.string(key)
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            self.fail(f"must be a CIDR block such as 10.0.0.0/16, got {value!r} ({exc})", key)
        return value

    def strings(self, key: str, *, allow_empty: bool) -> tuple[str, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"must be a list of strings, got {describe(value)}", key)
        items = tuple(cast(list[str], value))
        if not items and not allow_empty:
            self.fail("must list at least one value", key)
        return items

    def section(self, key: str) -> Section:
        return Section(self.stack, f"{self.path}.{key}", self._get(key))

    def optional_section(self, key: str) -> Section | None:
        value = self._get(key, optional=True)
        return None if value is None else Section(self.stack, f"{self.path}.{key}", value)

    def sections(self, key: str) -> list[Section]:
        value = self._get(key)
        if not isinstance(value, list) or not value:
            self.fail(f"must be a non-empty list of objects, got {describe(value)}", key)
        return [Section(self.stack, f"{self.path}.{key}[{i}]", v) for i, v in enumerate(cast(list[object], value))]

    def done(self) -> None:
        """Reject unknown keys: a typo must not silently fall back to a default."""
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            self.fail(f"has unknown key(s) {', '.join(unknown)}; known keys are: {known}")


def describe(value: object) -> str:
    if value is None:
        return "nothing"
    return f"{value!r} ({type(value).__name__})"


