"""A browser as API consumer: a page served from another origin calls the API with CORS and follows
the alert stream with EventSource in headless Chromium (Debian's ``chromium``), including a
reconnect that replays what was missed.

The page reports what it sees to the server that served it (``POST /report``). The service ends
each stream after 3 s; EventSource reconnects with ``Last-Event-ID``. Alert changes appended while
no projector runs are never published live, so the page can only get them from the replay.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bench.service import Service, die_with_parent
from tests.projections.support import append_history, kill, projector_env, start_projector

PAGE = """<!doctype html><html><body><script>
const api = "%(api)s", key = "%(key)s";
let seq = 0;  // the reports' fetches may arrive out of order: they carry the page's order
const report = (what) => fetch("/report", {method: "POST", body: JSON.stringify({...what, seq: seq++})});
(async () => {
  const created = await fetch(api + "/v1/devices", {
    method: "POST",
    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json", "Idempotency-Key": "page-1"},
    body: JSON.stringify({device_id: "browser-1", name: "From a page", site: "web", kind: "thermometer",
                          metrics: [{name: "temperature", unit: "C"}]}),
  }).catch((e) => ({status: "error " + e}));
  await report({kind: "created", status: created.status, etag: created.headers ? created.headers.get("ETag") : null,
                position: created.headers ? created.headers.get("X-Position") : null});
  const stream = new EventSource(api + "/v1/alerts/stream?access_token=" + key);
  stream.onopen = () => report({kind: "open"});
  stream.addEventListener("alert", (e) => {
    const change = JSON.parse(e.data);
    report({kind: "alert", id: e.lastEventId, type: change.type, alert_id: change.alert.alert_id});
  });
  stream.onmessage = (e) => report({kind: "message", data: e.data});  // unnamed events: none expected
})();
</script></body></html>"""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Page:
    """Serves the page and collects its reports."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.html = b""
        reports, owner = self.reports, self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(owner.html)

            def do_POST(self) -> None:
                reports.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, api: str, key: str) -> None:
        self.html = (PAGE % {"api": api, "key": key}).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, what: str, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sorted((r for r in list(self.reports) if r["kind"] == what), key=lambda r: r["seq"])
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"the page did not report {count} {what!r} in {timeout}s: {self.reports}")


@pytest.fixture
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Debian's `chromium` is not installed: run `make provision-test`", pytrace=False)
    return found


async def test_a_page_from_another_origin_uses_the_api_and_replays_missed_alerts(
    chromium: str, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    page = Page()
    service = Service(
        database_url,
        redis_url=redis_url,
        log_file=tmp_path / "service.log",
        cors_origins=page.origin,
        sse_max_duration_s="3",
    ).start()
    projector = start_projector(
        projector_env(database_url, redis_url, SENSORHUB_REQUIRE_PROJECTOR="false"), tmp_path / "projector.log"
    )
    browser: subprocess.Popen[bytes] | None = None
    try:
        page.serve(service.base_url, service.admin_key)
        browser = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", f"{page.origin}/"],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "chromium.log").open("wb"),
            preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads run between fork and exec here
        )
        created = page.wait_for("created")[0]
        assert (created["status"], created["etag"]) == (201, '"1"'), created  # CORS: call and exposed headers
        assert created["position"] and int(created["position"]) > 0
        page.wait_for("open")

        # Live: alert-1 raised, projected and published while the page listens.
        await _append(database_url, 1, 1)
        first = page.wait_for("alert")[0]
        assert (first["type"], first["alert_id"]) == ("AlertRaised", "alert-1")

        # Missed: with no projector, these changes are stored but never published.
        kill(projector)
        await _append(database_url, 2, 3)
        missed = await _alert_changes(database_url, after=int(first["id"]))
        assert len(missed) == 4
        replayed = page.wait_for("alert", count=1 + len(missed), timeout=30)[1:]
        assert [(int(r["id"]), r["type"], r["alert_id"]) for r in replayed] == missed
        assert len(page.wait_for("open", count=2)) >= 2  # it did reconnect
        assert not [r for r in page.reports if r["kind"] == "message"]  # no empty or unnamed events
    finally:
        if browser is not None:
            browser.kill()
            browser.wait(10)
        kill(projector)
        service.stop()
        page.close()


async def _append(database_url: str, first: int, last: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await append_history(conn, first, last)
    finally:
        await conn.close()


async def _alert_changes(database_url: str, *, after: int) -> list[tuple[int, str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT position, type, stream_id FROM events WHERE type LIKE 'Alert%'"
            " AND (transaction_id, position) > (SELECT transaction_id, position FROM events WHERE position = $1)"
            " ORDER BY transaction_id, position",
            after,
        )
    finally:
        await conn.close()
    return [(r["position"], r["type"], r["stream_id"]) for r in rows]
