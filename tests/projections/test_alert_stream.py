"""SSE across processes: an alert change handled by one API process reaches a client of another."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from pathlib import Path

import asyncpg
import httpx

from tests.projections.support import SENSORHUB, append_history, kill, projector_env, start_projector
from tests.support.app import ADMIN_KEY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_live(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"{base}/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} did not come up")


async def test_an_alert_change_reaches_a_client_of_another_process(
    pool: asyncpg.Pool, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = projector_env(
        database_url, redis_url, SENSORHUB_BOOTSTRAP_ADMIN_KEY=ADMIN_KEY, SENSORHUB_REQUIRE_PROJECTOR="false"
    )
    ports = [_free_port(), _free_port()]
    log = (tmp_path / "serve.log").open("ab")
    servers = [
        subprocess.Popen([SENSORHUB, "serve", "--port", str(p)], env=env, stdout=log, stderr=subprocess.STDOUT)
        for p in ports
    ]
    projector = start_projector(env, tmp_path / "projector.log")
    a, b = (f"http://127.0.0.1:{p}" for p in ports)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        await asyncio.gather(_wait_live(a), _wait_live(b))
        async with pool.acquire() as conn:
            await append_history(conn, 1, 1)  # dev-1 with an open alert, alert-1
        async with (
            httpx.AsyncClient(timeout=20) as client,
            client.stream("GET", f"{b}/v1/alerts/stream", headers=headers) as stream,
        ):
            lines = stream.aiter_lines()
            assert (await asyncio.wait_for(anext(lines), 10)).startswith(": subscribed")
            ack = await client.post(f"{a}/v1/alerts/alert-1/acknowledge", json={"by": "alice"}, headers=headers)
            assert ack.status_code == 200, ack.text

            async def first_change() -> dict[str, object]:
                async for line in lines:
                    if line.startswith("data:") and line.removeprefix("data:").strip():
                        change = json.loads(line.removeprefix("data:").strip())
                        if change["type"] == "AlertAcknowledged":
                            return dict(change)
                raise AssertionError("stream ended")

            change = await asyncio.wait_for(first_change(), 15)
        assert change["position"] == int(ack.headers["x-position"])
        assert change["alert"]["status"] == "acknowledged"  # type: ignore[index]
        assert change["alert"]["acknowledged_by"] == "alice"  # type: ignore[index]
    finally:
        for proc in [*servers, projector]:
            kill(proc, 15)
