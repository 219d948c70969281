"""PostgreSQL stops and starts under load (a cluster of this test's own, so nobody else's tests
notice): requests in flight fail with 503 + Retry-After, never a 500 or a hang; the pool recovers
without restarting the service; every acknowledged event and reading is stored afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from bench.cluster import Cluster, throwaway_cluster
from bench.service import Service

REQUEST_TIMEOUT_S = 20.0  # a request slower than this counts as a hang


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = throwaway_cluster("restart", timescaledb=True)
    try:
        yield c
    finally:
        c.destroy()


async def test_requests_during_a_database_restart(cluster: Cluster, tmp_path: Path) -> None:
    admin = await asyncpg.connect(cluster.url())
    await admin.execute("CREATE DATABASE sensorhub")
    await admin.close()
    url = cluster.url("sensorhub")
    with Service(url, log_file=tmp_path / "service.log", db_command_timeout_s="5") as svc:
        async with httpx.AsyncClient(base_url=svc.base_url, headers=svc.headers(), timeout=REQUEST_TIMEOUT_S) as http:
            paths = (await http.get("/schema/openapi.json")).json()["paths"]
            ingest = "/v1/readings" in paths
            r = await http.post("/v1/devices", json=device("base-1"))
            assert r.status_code == 201, r.text

            acked_devices: list[str] = []
            acked_readings: list[tuple[str, datetime]] = []
            statuses: dict[int, int] = {}
            bad: list[str] = []
            stop = asyncio.Event()
            start_time = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

            def note(resp: httpx.Response, what: str) -> bool:
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                if resp.status_code == 503:
                    if "retry-after" not in resp.headers:
                        bad.append(f"{what}: 503 without Retry-After")
                    return False
                if resp.status_code >= 500 or resp.status_code not in (200, 201):
                    bad.append(f"{what}: {resp.status_code} {resp.text[:300]}")
                    return False
                return True

            async def commands(w: int) -> None:
                i = 0
                while not stop.is_set():
                    device_id = f"d{w}-{i}"
                    try:
                        resp = await http.post("/v1/devices", json=device(device_id))
                    except httpx.TimeoutException:
                        bad.append(f"POST /v1/devices {device_id}: no answer in {REQUEST_TIMEOUT_S}s")
                        continue
                    except httpx.TransportError as exc:
                        bad.append(f"POST /v1/devices {device_id}: {exc!r}")
                        continue
                    if note(resp, f"POST /v1/devices {device_id}"):
                        acked_devices.append(device_id)
                    i += 1
                    await asyncio.sleep(0.01)

            async def readings() -> None:
                i = 0
                while not stop.is_set():
                    t = start_time + timedelta(seconds=i)
                    body = {"readings": [{"device_id": "base-1", "metric": "temperature",
                                          "time": t.isoformat(), "value": float(i)}]}
                    try:
                        resp = await http.post("/v1/readings", json=body)
                    except httpx.TimeoutException:
                        bad.append(f"POST /v1/readings #{i}: no answer in {REQUEST_TIMEOUT_S}s")
                        continue
                    if note(resp, f"POST /v1/readings #{i}") and resp.json().get("accepted") == 1:
                        acked_readings.append(("base-1", t))
                    i += 1
                    await asyncio.sleep(0.01)

            tasks = [asyncio.create_task(commands(w)) for w in range(4)]
            if ingest:
                tasks.append(asyncio.create_task(readings()))
            await asyncio.sleep(1.5)
            before_stop = len(acked_devices)
            await asyncio.to_thread(cluster.stop, "fast")
            await asyncio.sleep(2.0)
            during = dict(statuses)
            await asyncio.to_thread(cluster.start)
            restarted = time.monotonic()
            # The pool recovers by itself: new commands succeed again soon after the restart.
            while len(acked_devices) < before_stop + 20 or time.monotonic() - restarted < 1.0:
                assert time.monotonic() - restarted < 30, f"no recovery after the restart: {statuses}, {bad[:5]}"
                await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*tasks)

            assert not bad, "\n".join(bad[:20])
            assert statuses.get(503, 0) > 0, f"the outage was not noticed: {statuses} (during: {during})"
            ready = await http.get("/health/ready")
            assert ready.json()["checks"]["database"]["ok"] is True, ready.text

    conn = await asyncpg.connect(url)
    try:
        stored = {r["stream_id"] for r in await conn.fetch("SELECT stream_id FROM events")}
        missing = [d for d in acked_devices if d not in stored]
        assert not missing, f"acknowledged but not stored: {missing[:10]}"
        if acked_readings:
            times = {r["time"] for r in await conn.fetch("SELECT time FROM readings WHERE device_id = 'base-1'")}
            lost = [t for _, t in acked_readings if t not in times]
            assert not lost, f"acknowledged readings not stored: {lost[:10]}"
    finally:
        await conn.close()


def device(device_id: str) -> dict[str, object]:
    return {
        "device_id": device_id,
        "name": f"device {device_id}",
        "site": "lab",
        "kind": "thermo",
        "metrics": [{"name": "temperature", "unit": "C"}],
    }
