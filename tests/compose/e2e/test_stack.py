"""End to end against the running compose stack (`make compose-up`), through nginx as a client sees it.

Keys, devices, readings, an alert raised by ingest and seen on the SSE stream, Prometheus scraping every
target, the tools answering, and the data surviving `docker compose restart` of the database and the API.
The stack's ports and admin key come from the env file `make compose-up` wrote.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.compose.containers import eventually, http_ok

ROOT = Path(__file__).resolve().parents[3]
ENV_FILE = ROOT / ".local" / "compose" / "compose.env"
RUN = uuid.uuid4().hex[:8]
DEVICE = f"e2e-{RUN}"
# Readings a few minutes old: inside the late-data window, never "in the future".
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def _env() -> dict[str, str]:
    assert ENV_FILE.exists(), f"{ENV_FILE} is missing: run `make compose-up` first"
    lines = [line for line in ENV_FILE.read_text().splitlines() if "=" in line and line[0] != "#"]
    return dict(line.split("=", 1) for line in lines)


ENV = _env()
BASE = f"http://127.0.0.1:{ENV['API_PORT']}"
ADMIN = {"Authorization": f"Bearer {ENV['SENSORHUB_BOOTSTRAP_ADMIN_KEY']}"}


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(ROOT / "scripts" / "containers.sh"), "compose", *args], capture_output=True,
                            text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def ready(timeout: float = 120) -> None:
    def probe() -> bool:
        return httpx.get(f"{BASE}/health/ready", timeout=5).status_code == 200

    eventually(probe, timeout=timeout, what="the API ready through nginx")


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    ready()
    with httpx.Client(base_url=BASE, timeout=20) as c:
        yield c


@pytest.fixture(scope="module")
def writer(client: httpx.Client) -> dict[str, str]:
    """A key made through the API by the admin key, with the scopes a gateway has."""
    made = client.post("/v1/keys", headers=ADMIN, json={"name": f"e2e {RUN}", "scopes": ["read", "write", "ingest"]})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['secret']}"}


def test_nginx_fronts_the_api_and_hides_metrics(client: httpx.Client) -> None:
    live = client.get("/health/live")
    assert live.status_code == 200
    assert live.headers.get("server", "").startswith("nginx") or "x-request-id" in {k.lower() for k in live.headers}
    assert client.get("/metrics").status_code == 404
    assert client.get("/nginx-health").text.strip() == "ok"


def test_keys(client: httpx.Client, writer: dict[str, str]) -> None:
    me = client.get("/v1/keys/me", headers=writer)
    assert me.status_code == 200, me.text
    assert sorted(me.json()["scopes"]) == ["ingest", "read", "write"]
    assert client.get("/v1/keys/", headers=writer).status_code == 403  # admin only
    assert client.get("/v1/keys/me", headers={"Authorization": "Bearer nope-nope-nope-nope"}).status_code == 401


def test_device_registered_and_projected(client: httpx.Client, writer: dict[str, str]) -> None:
    created = client.post("/v1/devices", headers=writer, json={
        "device_id": DEVICE, "name": f"e2e {RUN}", "site": "e2e-site", "kind": "thermometer",
        "metrics": [{"name": "temperature", "unit": "C"}]})
    assert created.status_code == 201, created.text
    position = created.headers["x-position"]
    got = client.get(f"/v1/devices/{DEVICE}", headers={**writer, "X-Min-Position": position})
    assert got.status_code == 200 and got.headers.get("x-stale") != "true", got.text
    assert got.json()["site"] == "e2e-site"
    threshold = client.put(f"/v1/devices/{DEVICE}/thresholds/temperature", headers=writer,
                           json={"max": 30.0, "severity": "critical"})
    assert threshold.status_code == 200, threshold.text


def _stream_alerts(events: queue.Queue[dict[str, object]], opened: threading.Event, stop: threading.Event) -> None:
    with httpx.Client(base_url=BASE, timeout=httpx.Timeout(10, read=60)) as c, c.stream(
        "GET", "/v1/alerts/stream", headers=ADMIN
    ) as response:
        assert response.status_code == 200
        opened.set()
        kind = None
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind == "alert":
                events.put(json.loads(line.split(":", 1)[1]))


def test_readings_raise_an_alert_seen_on_the_sse_stream(client: httpx.Client, writer: dict[str, str]) -> None:
    events: queue.Queue[dict[str, object]] = queue.Queue()
    opened, stop = threading.Event(), threading.Event()
    listener = threading.Thread(target=_stream_alerts, args=(events, opened, stop), daemon=True)
    listener.start()
    assert opened.wait(20), "the alert stream did not open through nginx"

    batch = [{"device_id": DEVICE, "metric": "temperature", "time": (T0 + timedelta(seconds=i)).isoformat(),
              "value": 20.0 + (15.0 if i == 50 else i / 100)} for i in range(100)]
    ingested = client.post("/v1/readings", headers=writer, json={"readings": batch})
    assert ingested.status_code == 200, ingested.text
    body = ingested.json()
    assert (body["accepted"], body["rejected"], body["alerts_raised"]) == (100, [], 1), body

    def alert_for_device() -> dict[str, object] | None:
        try:
            event = events.get(timeout=1)
        except queue.Empty:
            return None
        return event if DEVICE in json.dumps(event) else None

    event = eventually(alert_for_device, timeout=30, what="an alert event for the device on the SSE stream")
    stop.set()
    assert "critical" in json.dumps(event), event

    back = client.get(f"/v1/devices/{DEVICE}/readings", headers=writer, params={
        "metric": "temperature", "from": T0.isoformat(), "to": (T0 + timedelta(minutes=5)).isoformat()})
    assert back.status_code == 200, back.text
    assert [item["value"] for item in back.json()["items"]] == [row["value"] for row in batch]


def test_prometheus_scrapes_every_target() -> None:
    url = f"http://127.0.0.1:{ENV['PROMETHEUS_PORT']}/api/v1/query"

    def all_up() -> dict[str, str] | None:
        result = httpx.get(url, params={"query": "up"}, timeout=5).json()["data"]["result"]
        jobs = {r["metric"]["job"]: r["value"][1] for r in result}
        wanted = {"sensorhub-api", "sensorhub-projector", "prometheus"}
        return jobs if wanted <= set(jobs) and all(jobs[j] == "1" for j in wanted) else None

    jobs = eventually(all_up, timeout=90, interval=3, what="up == 1 for every Prometheus target")
    assert set(jobs.values()) == {"1"}, jobs


def test_the_tools_answer() -> None:
    pgadmin = eventually(http_ok(f"http://127.0.0.1:{ENV['PGADMIN_PORT']}/misc/ping"), timeout=120,
                         what="pgAdmin")
    assert pgadmin.status_code == 200
    commander = f"http://127.0.0.1:{ENV['REDIS_COMMANDER_PORT']}"
    # HTTP_USER/HTTP_PASSWORD guard the API (the page itself is public): sign in, then read the server.
    assert httpx.get(f"{commander}/apiv2/server/info", timeout=10).status_code == 401
    login = {"username": ENV["REDIS_COMMANDER_USER"], "password": ENV["REDIS_COMMANDER_PASSWORD"]}
    assert httpx.post(f"{commander}/signin", data={**login, "password": "wrong"}, timeout=10).json()["ok"] is False
    signed = httpx.post(f"{commander}/signin", data=login, timeout=10).json()
    assert signed["ok"] is True, signed
    info = httpx.get(f"{commander}/apiv2/server/info", headers={"Authorization": f"Bearer {signed['bearerToken']}"},
                     timeout=10)
    assert info.status_code == 200 and "Redis version" in info.text, info.text[:300]  # it reached our Redis


@pytest.mark.parametrize("service", ["timescaledb", "api"])
def test_data_survives_a_restart(client: httpx.Client, writer: dict[str, str], service: str) -> None:
    compose("restart", service)
    ready(timeout=180)

    def device() -> httpx.Response | None:
        response = client.get(f"/v1/devices/{DEVICE}", headers=writer)
        return response if response.status_code == 200 else None

    got = eventually(device, timeout=60, what=f"the device after restarting {service}")
    assert got.json()["device_id"] == DEVICE
    back = client.get(f"/v1/devices/{DEVICE}/readings", headers=writer, params={
        "metric": "temperature", "from": T0.isoformat(), "to": (T0 + timedelta(minutes=5)).isoformat()})
    assert back.status_code == 200 and len(back.json()["items"]) == 100, back.text
    alerts = client.get("/v1/alerts", headers=writer, params={"device_id": DEVICE})
    assert alerts.status_code == 200 and len(alerts.json()["items"]) == 1, alerts.text
