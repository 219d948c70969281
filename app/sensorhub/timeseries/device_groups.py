"""Devices split into ``groups`` groups by a stable hash of their id (CRC-32): the archive writes a
file per day and group, compression packs a day one group per transaction."""

from __future__ import annotations

import zlib


def device_group(device_id: str, groups: int) -> int:
    return zlib.crc32(device_id.encode()) % groups
