"""Event types by registered name and schema version, and the upcaster chains between versions.

Stored events carry a *name* (``DeviceRegistered``), never an import path, so
classes can move freely. Each name has a current schema version; a stored
payload of an older version is upcast one step at a time (v1 → v2 → …) on read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from sensorhub.application.errors import UnknownEventType
from sensorhub.application.stored_events import RecordedEvent

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


@dataclass(frozen=True)
class EventType:
    name: str
    cls: type
    schema_version: int
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)  # from version → next version


class EventTypeRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, EventType] = {}
        self._by_class: dict[type, EventType] = {}
        self._json_decoders: dict[str, msgspec.json.Decoder[Any]] = {}

    def register(
        self,
        cls: type,
        *,
        name: str | None = None,
        schema_version: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
    ) -> None:
        """Register ``cls`` under ``name`` (default: the class name). ``upcasters[v]`` turns a
        version-``v`` payload into version ``v + 1``; every version below the current one needs one."""
        name = name or cls.__name__
        chain = dict(upcasters or {})
        missing = [v for v in range(1, schema_version) if v not in chain]
        if missing:
            raise ValueError(f"{name} is at schema version {schema_version} but has no upcaster from {missing}")
        if name in self._by_name or cls in self._by_class:
            raise ValueError(f"{name} ({cls.__qualname__}) is already registered")
        entry = EventType(name, cls, schema_version, chain)
        self._by_name[name] = entry
        self._by_class[cls] = entry
        self._json_decoders[name] = msgspec.json.Decoder(cls, strict=False)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def encode(self, event: object) -> tuple[str, int, Payload]:
        """(registered name, current schema version, JSON-ready payload)."""
        entry = self._by_class.get(type(event))
        if entry is None:
            raise UnknownEventType(f"{type(event).__qualname__} is not a registered event type")
        return entry.name, entry.schema_version, msgspec.to_builtins(event)

    def upcast(self, name: str, schema_version: int, data: Payload) -> tuple[int, Payload]:
        entry = self._entry(name)
        if schema_version > entry.schema_version:
            raise UnknownEventType(f"{name} v{schema_version} is newer than this code knows (v{entry.schema_version})")
        while schema_version < entry.schema_version:
            data = entry.upcasters[schema_version](data)
            schema_version += 1
        return schema_version, data

    def upcast_record(self, record: RecordedEvent) -> RecordedEvent:
        """The record with its payload in the current shape (unknown types pass through unchanged)."""
        if record.type not in self._by_name:
            return record
        version, data = self.upcast(record.type, record.schema_version, record.data)
        if version == record.schema_version:
            return record
        return replace(record, schema_version=version, data=data)

    def decode(self, name: str, schema_version: int, data: Payload) -> Any:
        _, current = self.upcast(name, schema_version, data)
        return msgspec.convert(current, self._entry(name).cls, strict=False)

    def decode_record(self, record: RecordedEvent) -> Any:
        return self.decode(record.type, record.schema_version, record.data)

    def decode_json(self, name: str, schema_version: int, data: str | bytes) -> Any:
        """``decode`` from the payload's JSON text. A payload already in the current shape (the
        common case) is decoded straight into its class, without building a dict first; an older
        one goes through its upcasters like any other."""
        entry = self._entry(name)
        if schema_version == entry.schema_version:
            return self._json_decoders[name].decode(data)
        return self.decode(name, schema_version, json.loads(data))

    def encode_state(self, state: object) -> Payload:
        """A snapshot payload from an aggregate's state dataclass."""
        return msgspec.to_builtins(state)

    def decode_state(self, cls: type, data: Payload) -> Any:
        return msgspec.convert(data, cls, strict=False)

    def _entry(self, name: str) -> EventType:
        entry = self._by_name.get(name)
        if entry is None:
            raise UnknownEventType(f"no event type is registered under the name {name!r}")
        return entry
