"""``sensorhub simulate``: N devices pushing realistic readings through the public API.

Each series is a daily-ish sine wave plus noise. Now and then a device goes quiet (a gap), sends a
reading late (held back a few ticks) or twice (a duplicate), and some series drift past their
threshold for a while (an anomaly) so alerts are raised and then auto-resolved. Devices are
registered (and thresholds set) through the API; readings go through ``POST /v1/readings``.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx

METRICS = {  # name: (unit, base, amplitude, noise, threshold max)
    "temperature": ("C", 21.0, 4.0, 0.3, 35.0),
    "humidity": ("%", 45.0, 10.0, 1.0, 80.0),
    "pressure": ("bar", 1.5, 0.1, 0.01, 2.5),
}


@dataclass(frozen=True)
class SimulationPlan:
    devices: int = 10
    metrics: tuple[str, ...] = ("temperature", "humidity")
    sites: int = 2
    interval_s: float = 1.0
    ticks: int | None = None  # None: until interrupted
    backfill_minutes: int = 10  # history sent at start, one reading per minute
    gap_rate: float = 0.02
    late_rate: float = 0.02
    duplicate_rate: float = 0.02
    anomaly_rate: float = 0.01
    anomaly_ticks: int = 5
    seed: int | None = None
    prefix: str = "sim"


@dataclass
class Totals:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    alerts_raised: int = 0
    alerts_resolved: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        return (
            f"sent {self.sent}  accepted {self.accepted}  duplicates {self.duplicates}  rejected {self.rejected}  "
            f"alerts +{self.alerts_raised}/-{self.alerts_resolved}  {time.monotonic() - self.started:.0f}s"
        )


class Simulator:
    def __init__(
        self, client: httpx.AsyncClient, plan: SimulationPlan, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.client = client
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.totals = Totals()
        self._anomaly: dict[tuple[str, str], int] = {}
        self._held: list[tuple[int, dict[str, Any]]] = []  # (release at tick, reading)
        self._phase = {d: self.random.uniform(0, 2 * math.pi) for d in self.device_ids()}

    def device_ids(self) -> list[str]:
        return [f"{self.plan.prefix}-{i:04d}" for i in range(1, self.plan.devices + 1)]

    async def register(self) -> None:
        for index, device_id in enumerate(self.device_ids()):
            body = {
                "device_id": device_id,
                "name": f"Simulated {device_id}",
                "site": f"{self.plan.prefix}-site-{index % self.plan.sites + 1}",
                "kind": "simulated",
                "metrics": [{"name": m, "unit": METRICS[m][0]} for m in self.plan.metrics],
            }
            got = await self.client.post("/v1/devices", json=body)
            if got.status_code not in (201, 409):
                raise RuntimeError(f"registering {device_id} failed: {got.status_code} {got.text}")
            for metric in self.plan.metrics:
                threshold = {"max": METRICS[metric][4], "severity": "warning"}
                put = await self.client.put(f"/v1/devices/{device_id}/thresholds/{metric}", json=threshold)
                if put.status_code not in (200, 409):
                    raise RuntimeError(f"threshold on {device_id}/{metric} failed: {put.status_code} {put.text}")

    def value(self, device_id: str, metric: str, at: datetime) -> float:
        _, base, amplitude, noise, limit = METRICS[metric]
        angle = at.timestamp() / 3600 * 2 * math.pi / 24 + self._phase[device_id]
        value = base + amplitude * math.sin(angle) + self.random.gauss(0, noise)
        if self._anomaly.get((device_id, metric), 0) > 0:
            value = limit + abs(amplitude) * 0.5 + self.random.uniform(0, amplitude)
        return round(value, 3)

    def readings_at(self, tick: int, at: datetime) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        plan = self.plan
        for device_id in self.device_ids():
            for metric in plan.metrics:
                key = (device_id, metric)
                if self._anomaly.get(key, 0) > 0:
                    self._anomaly[key] -= 1
                elif self.random.random() < plan.anomaly_rate:
                    self._anomaly[key] = plan.anomaly_ticks
                if self.random.random() < plan.gap_rate:
                    continue
                row = {"device_id": device_id, "metric": metric, "time": at.isoformat(), "value": 0.0}
                row["value"] = self.value(device_id, metric, at)
                if self.random.random() < plan.late_rate:
                    self._held.append((tick + self.random.randint(2, 5), row))
                    continue
                batch.append(row)
                if self.random.random() < plan.duplicate_rate:
                    batch.append(dict(row))
        released = [row for due, row in self._held if due <= tick]
        self._held = [(due, row) for due, row in self._held if due > tick]
        return batch + released

    async def send(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        got = await self.client.post("/v1/readings", json={"readings": rows})
        if got.status_code != 200:
            raise RuntimeError(f"ingest failed: {got.status_code} {got.text}")
        body = got.json()
        t = self.totals
        t.sent += len(rows)
        t.accepted += body["accepted"]
        t.duplicates += body["duplicates"]
        t.rejected += len(body["rejected"])
        t.alerts_raised += body.get("alerts_raised", 0)
        t.alerts_resolved += body.get("alerts_resolved", 0)

    async def run(self, progress: TextIO | None = sys.stderr) -> Totals:
        await self.register()
        now = self.clock()
        for minute in range(self.plan.backfill_minutes, 0, -1):
            await self.send(self.readings_at(-minute, now - timedelta(minutes=minute)))
        tick = 0
        while self.plan.ticks is None or tick < self.plan.ticks:
            await self.send(self.readings_at(tick, self.clock()))
            if progress is not None:
                progress.write("\r" + self.totals.line())
                progress.flush()
            tick += 1
            if self.plan.ticks is None or tick < self.plan.ticks:
                await asyncio.sleep(self.plan.interval_s)
        await self.send([row for _, row in self._held])
        if progress is not None:
            progress.write("\r" + self.totals.line() + "\n")
        return self.totals


async def simulate(url: str, api_key: str, plan: SimulationPlan) -> Totals:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30.0) as client:
        return await Simulator(client, plan).run()
