"""What ingest needs to know about devices: status, metrics and thresholds (the ``DeviceCatalog`` port).

:class:`EventStoreDeviceCatalog` reads device state from the event store (the source of truth),
cached per stream version: each lookup reads the batch's current versions in the ingest
transaction and reloads only changed devices, so a reading meets exactly the thresholds in force.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sensorhub.application.ports import EventCodec
from sensorhub.application.repository import Repository
from sensorhub.db import Conn
from sensorhub.domain.device import Device, DeviceState, Threshold
from sensorhub.eventstore.postgres import PostgresEventStore


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    site: str
    status: str  # active | decommissioned
    metrics: frozenset[str]
    thresholds: Mapping[str, Threshold]
    version: int

    @classmethod
    def of(cls, state: DeviceState, version: int) -> DeviceInfo:
        return cls(
            state.device_id,
            state.site,
            state.status,
            frozenset(m.name for m in state.metrics),
            {t.metric: t for t in state.thresholds},
            version,
        )


class DeviceCatalog(Protocol):
    async def get(self, conn: Conn, device_ids: Iterable[str]) -> dict[str, DeviceInfo]:
        """The devices among ``device_ids`` that exist, read on ``conn`` (the ingest transaction)."""
        ...


class EventStoreDeviceCatalog:
    def __init__(self, codec: EventCodec, max_cached: int = 100_000) -> None:
        self._codec = codec
        self._cache: dict[str, DeviceInfo] = {}
        self._max_cached = max_cached

    async def get(self, conn: Conn, device_ids: Iterable[str]) -> dict[str, DeviceInfo]:
        ids = sorted(set(device_ids))
        rows = await conn.fetch(
            "SELECT stream_id, version FROM streams WHERE stream_id = ANY($1::text[]) AND stream_type = $2",
            ids,
            Device.STREAM_TYPE,
        )
        found: dict[str, DeviceInfo] = {}
        repository = Repository(Device, PostgresEventStore(conn), self._codec)
        for row in rows:
            device_id, version = row["stream_id"], row["version"]
            cached = self._cache.get(device_id)
            if cached is None or cached.version != version:
                device = await repository.find(device_id)
                if device is None:
                    continue
                cached = DeviceInfo.of(device.state, device.version)
                if len(self._cache) >= self._max_cached:
                    self._cache.clear()
                self._cache[device_id] = cached
            if cached.status != "deleted":  # a deleted device is unknown to ingest and readings
                found[device_id] = cached
        return found
