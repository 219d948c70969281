"""Hostile input: SQL metacharacters and Unicode edge cases in ids, filters and body strings;
oversized bodies and batches; deeply nested JSON; NaN/Infinity; times at the ends of the range;
slow request bodies. Every answer is a clear 4xx (problem+json, no SQL, no stack trace), no data
changes, and nothing logged contains an API key."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

import asyncpg
from sensorhub.observability import configure_logging

from bench.service import Service
from tests.support.app import ADMIN_KEY, auth, client_for, settings_for

SQLISH = [
    "'; DROP TABLE events; --",
    "\" OR 1=1 --",
    "x' UNION SELECT secret FROM api_keys --",
    "%' OR '%'='",
    "$1::text",
    "\\x00\\",
    "a;b",
]
UNICODE = [
    "\u0000",  # NUL: PostgreSQL text cannot hold it
    "\ud800",  # a lone surrogate (sent escaped in JSON)
    "e\u0301",  # combining accent
    "\u202eevil",  # right-to-left override
    "\ufeff",  # BOM
    "\U0001d518\U0001d52b\U0001d526",  # mathematical fraktur (outside the BMP)
    "\u00a0",  # no-break space only
    "x" * 10_000,
]
HOSTILE = SQLISH + UNICODE
FORBIDDEN_IN_ERRORS = ("Traceback", "asyncpg", "SELECT ", "INSERT ", "psycopg", "syntax error at")

DEVICE = {
    "device_id": "victim-1",
    "name": "victim",
    "site": "lab",
    "kind": "thermo",
    "metrics": [{"name": "temperature", "unit": "C"}],
}


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Everything the service logs (structlog prints to stdout, stdlib logging via its handler)."""
    buffer = io.StringIO()
    configure_logging("debug", "json")
    root = logging.getLogger()
    handler = logging.StreamHandler(buffer)
    root.addHandler(handler)
    try:
        with redirect_stdout(buffer):
            yield buffer
    finally:
        root.removeHandler(handler)
        configure_logging("warning", "json")
        sys.stdout.flush()


async def snapshot(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r["relname"]
            for r in await conn.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND c.relname NOT LIKE 'idempotency%'"
            )
        ]
        out: dict[str, Any] = {}
        for t in tables:
            out[t] = await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM \"{t}\" x"
            )
        return out
    finally:
        await conn.close()


def as_json(body: Any) -> bytes:
    """JSON with every non-ASCII character escaped, so lone surrogates travel as ``\\ud800``."""
    return json.dumps(body, ensure_ascii=True).encode()


def assert_clear_4xx(response: Any, what: str, echo: str = "") -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if response.status_code not in (404, 405) or response.content:
        assert response.headers.get("content-type", "").startswith("application/problem+json"), (what, response.headers)
        body = response.json()
        assert body["status"] == response.status_code and body["detail"], (what, body)
        text = response.text
        for shown in (echo, json.dumps(echo)[1:-1]):
            text = text.replace(shown, "") if shown else text
        for bad in FORBIDDEN_IN_ERRORS:
            assert bad not in text, f"{what}: error body leaks {bad!r}: {response.text[:300]}"


async def test_hostile_strings_everywhere(database_url: str) -> None:
    async with client_for(settings_for(database_url)) as client:
        assert (await client.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
        before = await snapshot(database_url)
        with captured_logs() as logs:
            for value in HOSTILE:
                # A lone surrogate cannot be UTF-8: in a URL it goes as the invalid bytes ED A0 80.
                quoted = (
                    value.replace("%", "%25").replace("/", "%2F").replace("?", "%3F").replace("#", "%23")
                    .replace("\ud800", "%ED%A0%80").replace("\u0000", "%00")
                )
                in_url = value.replace("\ud800", "?")
                # ids in paths
                for method, path in [
                    ("GET", f"/v1/devices/{quoted}"),
                    ("GET", f"/v1/devices/{quoted}/events"),
                    ("GET", f"/v1/alerts/{quoted}"),
                    ("PATCH", f"/v1/devices/{quoted}"),
                    ("POST", f"/v1/devices/{quoted}/decommission"),
                    ("PUT", f"/v1/devices/victim-1/thresholds/{quoted}"),
                    ("DELETE", f"/v1/devices/victim-1/thresholds/{quoted}"),
                    ("POST", f"/v1/alerts/{quoted}/acknowledge"),
                    ("DELETE", f"/v1/keys/{quoted}"),
                ]:
                    body = {"severity": "warning", "max": 1.0} if method == "PUT" else {"by": "x"}
                    if method == "PATCH":
                        body = {"name": "x"}
                    r = await client.request(method, path, headers=auth(), content=as_json(body))
                    if method == "GET" and r.status_code == 200:  # e.g. the (empty) stream of no device
                        assert r.json().get("items") == [], (path[:80], r.text[:200])
                        continue
                    assert_clear_4xx(r, f"{method} {path[:80]}", echo=value)
                # filters
                for path, params in [
                    ("/v1/devices", {"site": value, "status": value, "kind": value}),
                    ("/v1/alerts", {"status": value, "severity": value, "device_id": value}),
                    ("/v1/events", {"type": value, "after": value}),
                    ("/v1/devices/victim-1/readings", {"metric": value, "from": value, "to": value}),
                    ("/v1/devices/victim-1", {"at": value}),
                ]:
                    if path.split("?")[0] not in paths and not path.startswith("/v1/devices/victim-1"):
                        continue
                    r = await client.get(path, params=dict.fromkeys(params, in_url), headers=auth())
                    # A filter that matches nothing is a fine answer; an error must be a clear 4xx.
                    if r.status_code != 200:
                        assert_clear_4xx(r, f"GET {path} {params}", echo=in_url)
                # body strings: register with hostile names (a hostile id must be refused)
                r = await client.post(
                    "/v1/devices",
                    headers=auth(),
                    content=as_json({**DEVICE, "device_id": value, "name": value, "site": value, "kind": value}),
                )
                assert_clear_4xx(r, "POST /v1/devices with a hostile id", echo=value)
                r = await client.patch(
                    "/v1/devices/victim-1", headers=auth(), content=as_json({"name": value, "nope": 1})
                )
                assert_clear_4xx(r, "PATCH with an unknown field", echo=value)
        after = await snapshot(database_url)
        assert before == after, "hostile requests changed data"
        assert ADMIN_KEY not in logs.getvalue()


async def test_names_with_metacharacters_are_stored_verbatim(database_url: str) -> None:
    """Valid but odd strings are data, not code: stored and returned exactly as sent."""
    async with client_for(settings_for(database_url)) as client:
        odd = "'; DROP TABLE events; -- \U0001d518 e\u0301 \u202e"
        r = await client.post("/v1/devices", json={**DEVICE, "name": odd, "site": "a'b\"c"}, headers=auth())
        assert r.status_code == 201, r.text
        got = await client.get("/v1/devices/victim-1", headers=auth())
        assert got.json()["name"] == odd
        listed = await client.get("/v1/devices", params={"site": "a'b\"c"}, headers=auth())
        if listed.status_code == 200:
            assert listed.json()["items"] == [] or listed.json()["items"][0]["device_id"] == "victim-1"


async def test_bad_json_shapes(database_url: str) -> None:
    async with client_for(settings_for(database_url, max_body_bytes="65536")) as client:
        assert (await client.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
        before = await snapshot(database_url)
        headers = {**auth(), "content-type": "application/json"}
        deep = "[" * 100_000 + "]" * 100_000
        cases: list[tuple[str, str, bytes]] = [
            ("POST", "/v1/devices", deep.encode()),
            ("POST", "/v1/devices", b'{"name": ' * 5000 + b"1" + b"}" * 5000),
            ("POST", "/v1/devices", b"{not json"),
            ("POST", "/v1/devices", b'{"name": "\\ud800", "site": "x", "kind": "k", "metrics": []}'),
            (
                "POST",
                "/v1/devices",
                b'{"name": "a\\u0000b", "site": "x", "kind": "k", "metrics": [{"name": "t", "unit": "C"}]}',
            ),
            ("POST", "/v1/devices", b"x" * 100_000),  # over the 64 KiB limit
            ("PUT", "/v1/devices/victim-1/thresholds/temperature", b'{"severity": "warning", "max": NaN}'),
            ("PUT", "/v1/devices/victim-1/thresholds/temperature", b'{"severity": "warning", "max": Infinity}'),
            ("PUT", "/v1/devices/victim-1/thresholds/temperature", b'{"severity": "warning", "max": 1e400}'),
            ("PUT", "/v1/devices/victim-1/thresholds/temperature", b'{"severity": "warning", "min": -1e400}'),
            ("PATCH", "/v1/devices/victim-1", b'[]'),
            ("PATCH", "/v1/devices/victim-1", b'"just a string"'),
        ]
        for method, path, body in cases:
            r = await client.request(method, path, headers=headers, content=body)
            assert_clear_4xx(r, f"{method} {path} {body[:40]!r}")
        oversized = await client.post("/v1/devices", headers=headers, content=b"x" * 100_000)
        assert oversized.status_code == 413, oversized.status_code
        assert before == await snapshot(database_url), "bad bodies changed data"


async def test_times_at_the_ends_of_the_range(database_url: str) -> None:
    async with client_for(settings_for(database_url)) as client:
        assert (await client.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
        before = await snapshot(database_url)
        for at in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "-infinity", "infinity", "2026-02-30T00:00:00Z",
                   "2026-01-01T00:00:00", "1e10", "2026-01-01T00:00:00+25:00"]:
            r = await client.get("/v1/devices/victim-1", params={"at": at}, headers=auth())
            assert r.status_code in (200, 404) or 400 <= r.status_code < 500, (at, r.status_code, r.text[:200])
            if r.status_code >= 400:
                assert_clear_4xx(r, f"at={at}")
        for after in ["-1", "9223372036854775807", "9223372036854775808", "1e3"]:
            r = await client.get("/v1/events", params={"after": after}, headers=auth())
            # 404: a position that names no event (docs/api.md); 422: not a position at all.
            assert r.status_code in (200, 404, 422), (after, r.status_code, r.text[:200])
        assert before == await snapshot(database_url)


async def test_readings_edge_cases(database_url: str) -> None:
    async with client_for(settings_for(database_url)) as client:
        assert (await client.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
        before = await snapshot(database_url)
        rows = [
            {"device_id": "victim-1", "metric": "temperature", "time": t, "value": v}
            for t, v in [
                ("0001-01-01T00:00:00Z", 1.0),
                ("9999-12-31T23:59:59Z", 1.0),
                ("2026-01-01T00:00:00", 1.0),  # no offset
                ("not a time", 1.0),
            ]
        ]
        rows += [{"device_id": s, "metric": "temperature", "time": "2026-11-24T00:00:00Z", "value": 1} for s in HOSTILE]
        rows += [{"device_id": "victim-1", "metric": s, "time": "2026-11-24T00:00:00Z", "value": 1} for s in SQLISH]
        r = await client.post(
            "/v1/readings", content=as_json({"readings": rows}), headers={**auth(), "content-type": "application/json"}
        )
        assert r.status_code in (200, 422), r.text[:300]
        if r.status_code == 200:
            assert r.json()["accepted"] == 0, r.text[:500]
            assert len(r.json()["rejected"]) == len(rows)
        else:
            assert_clear_4xx(r, "readings with hostile rows")
        for raw in [b'{"readings": [{"device_id": "victim-1", "metric": "temperature", '
                    b'"time": "2026-11-24T00:00:00Z", "value": NaN}]}',
                    b'{"readings": [{"device_id": "victim-1", "metric": "temperature", '
                    b'"time": "2026-11-24T00:00:00Z", "value": Infinity}]}',
                    b'{"readings": [{"device_id": "victim-1", "metric": "temperature", '
                    b'"time": "2026-11-24T00:00:00Z", "value": 1e400}]}',
                    b'{"readings": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"]:
            r = await client.post("/v1/readings", content=raw, headers={**auth(), "content-type": "application/json"})
            assert r.status_code in (200, 400, 413, 422), (raw[:60], r.status_code)
            if r.status_code == 200:
                assert r.json()["accepted"] == 0, r.text
            else:
                assert_clear_4xx(r, f"readings {raw[:60]!r}")
        assert before == await snapshot(database_url), "hostile readings changed data"


async def test_oversized_reading_batch(database_url: str) -> None:
    async with client_for(settings_for(database_url, max_body_bytes=str(1024 * 1024))) as client:
        row = {"device_id": "victim-1", "metric": "temperature", "time": "2026-11-24T00:00:00Z", "value": 1.0}
        r = await client.post("/v1/readings", json={"readings": [row] * 30_000}, headers=auth())
        assert r.status_code == 413, r.status_code
        assert_clear_4xx(r, "oversized batch")


def test_slow_request_body_is_cut_off(database_url: str, tmp_path: Any) -> None:
    """A client that sends headers and then trickles the body (slowloris) is answered or dropped,
    and does not stop others from being served meanwhile."""
    with Service(database_url, log_file=tmp_path / "service.log") as svc:
        sock = socket.create_connection(("127.0.0.1", svc.port))
        try:
            sock.sendall(
                b"POST /v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + svc.admin_key.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
            )
            # Others are served while it dawdles.
            import httpx

            t0 = time.monotonic()
            for _ in range(5):
                r = httpx.get(f"{svc.base_url}/v1/keys/me", headers=svc.headers(), timeout=5)
                assert r.status_code == 200
                sock.sendall(b" ")
            assert time.monotonic() - t0 < 5
        finally:
            sock.close()
        # The half-sent request changed nothing.
        r = httpx.get(f"{svc.base_url}/v1/events", headers=svc.headers(), timeout=5)
        assert r.status_code == 200 and r.json()["items"] == []
        log = (tmp_path / "service.log").read_text()
        assert svc.admin_key not in log


async def test_nothing_logged_contains_a_key(database_url: str) -> None:
    async with client_for(settings_for(database_url, log_level="debug")) as client:
        created = await client.post("/v1/keys", json={"name": "k", "scopes": ["read"]}, headers=auth())
        secret = created.json()["secret"]
        with captured_logs() as logs:
            for key in (ADMIN_KEY, secret, "shk_" + "A" * 43):
                await client.get("/v1/keys/me", headers=auth(key))
                await client.post("/v1/devices", json={"bad": 1}, headers=auth(key))
                await client.get("/v1/devices/x", headers={"Authorization": key})
                await client.get("/v1/devices/x", headers={"Authorization": f"Basic {key}"})
            await asyncio.sleep(0)
        text = logs.getvalue()
        for key in (ADMIN_KEY, secret):
            assert key not in text
        assert json.dumps(ADMIN_KEY)[1:-1] not in text


async def test_times_that_leave_the_database_range_after_their_offset_are_422(database_url: str) -> None:
    # 0001-01-01T00:00:00+01:00 is in year 0 in UTC: Python parses it, PostgreSQL cannot hold it.
    async with client_for(settings_for(database_url)) as client:
        params = {"from": "0001-01-01T00:00:00+01:00", "to": "2000-01-01T01:00:01.0+00:00"}
        got = await client.get("/v1/alerts/history", params=params, headers=auth())
        assert got.status_code == 422, got.text
        assert got.headers["content-type"].startswith("application/problem+json")
        assert got.json()["errors"][0]["field"] == "from", got.text
        # The export streams: refused before its answer starts (make fuzz-api found a broken chunked
        # answer), like every other route taking a time.
        assert (await client.post("/v1/devices", json=DEVICE, headers=auth())).status_code == 201
        year_zero, day_one = "0001-01-01T00:00:00+00:01", "0001-01-02T00:00:00Z"
        for path, query in (
            ("/v1/devices/victim-1/readings/export", {"from": year_zero, "to": "2026-01-01T00:00:00Z"}),
            ("/v1/devices/victim-1/readings", {"metric": "temperature", "from": year_zero, "to": day_one}),
            ("/v1/devices/victim-1", {"at": year_zero}),
        ):
            got = await client.get(path, params=query, headers=auth())
            assert got.status_code == 422, (path, got.text)
            field = "at" if "at" in query else "from"
            assert got.json()["errors"] == [{"field": field, "message": f"`{field}` is out of range: in UTC it must "
                                             "fall within the years 1 to 9999"}], got.text
