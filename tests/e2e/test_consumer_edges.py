"""The API as a consumer meets it (issue 16): one test per finding, black-box over HTTP.

Each test failed on the behaviour the issue reports and pins the fixed one.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.projections.support import append_history
from tests.support.app import ADMIN_KEY, auth, client_for, settings_for

DEVICE = {
    "device_id": "dev-1",
    "name": "Boiler room",
    "site": "site-a",
    "kind": "thermometer",
    "metrics": [{"name": "temperature", "unit": "C"}],
}
RANGE = "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"


async def register(client: AsyncTestClient[Any], device_id: str = "dev-1") -> Any:
    body = {**DEVICE, "device_id": device_id, "name": f"Boiler {device_id}"}  # names are unique per site
    response = await client.post("/v1/devices", json=body, headers=auth())
    assert response.status_code == 201, response.text
    return response


def errors_of(response: Any) -> dict[str, str]:
    """``{field: message}`` of a validation problem; fails when the problem has no ``errors`` list."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert isinstance(body.get("errors"), list) and body["errors"], f"no `errors` list: {body}"
    return {e["field"]: e["message"] for e in body["errors"]}


# --- OPTIONS, HEAD and CORS --------------------------------------------------------------------


async def test_options_answers_without_a_key_and_leaks_nothing(client: AsyncTestClient[Any]) -> None:
    for path in ("/v1/devices", "/v1/devices/dev-1", "/v1/readings", "/health/live"):
        response = await client.options(path)
        assert response.status_code == 204, f"{path}: {response.status_code} {response.text}"
        assert "scope" not in response.text
        assert "GET" in response.headers["allow"] or "POST" in response.headers["allow"]
    # Every method of the path, also where two handlers of one controller share it.
    allow = (await client.options("/v1/devices/dev-1/thresholds/temperature")).headers["allow"]
    assert allow == "DELETE, OPTIONS, PUT"
    assert (await client.options("/v1/devices/dev-1")).headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    # Without configured origins nothing is allowed cross-origin.
    preflight = await client.options(
        "/v1/devices", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers


@pytest.fixture
async def cors_client(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = settings_for(database_url, redis_url, cors_origins="https://app.example,https://ops.example")
    async with client_for(settings) as c:
        yield c


async def test_cors_allows_only_the_configured_origins(cors_client: AsyncTestClient[Any]) -> None:
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,if-match"}
    allowed = await cors_client.options("/v1/devices", headers={"Origin": "https://app.example", **ask})
    assert allowed.status_code in (200, 204), allowed.text
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "if-match" in allowed.headers["access-control-allow-headers"].lower()
    refused = await cors_client.options("/v1/devices", headers={"Origin": "https://evil.example", **ask})
    assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
    simple = await cors_client.get("/v1/devices", headers={"Origin": "https://ops.example", **auth()})
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == "https://ops.example"
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert {"etag", "x-position", "x-stale", "location"} <= {h.strip() for h in exposed.split(",")}


async def test_head_answers_like_get_without_a_body(client: AsyncTestClient[Any]) -> None:
    await register(client)
    head = await client.head("/v1/devices/dev-1", headers=auth())
    assert head.status_code == 200, head.text
    assert head.headers["etag"] == '"1"'
    assert head.content == b""
    assert (await client.head("/v1/devices/dev-1")).status_code == 401


# --- time travel -------------------------------------------------------------------------------


async def test_time_travel_beyond_the_current_version_is_404(client: AsyncTestClient[Any]) -> None:
    await register(client)
    beyond = await client.get("/v1/devices/dev-1?version=99", headers=auth())
    assert beyond.status_code == 404, beyond.text
    assert "version 99" in beyond.json()["detail"]
    assert "1" in beyond.json()["detail"]  # says which versions exist
    assert (await client.get("/v1/devices/dev-1?version=1", headers=auth())).status_code == 200


# --- the alert stream --------------------------------------------------------------------------


def sse_frames(body: str) -> list[list[str]]:
    return [[line for line in frame.splitlines() if line] for frame in body.replace("\r\n", "\n").split("\n\n")]


@pytest.fixture
async def short_stream_client(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    async with client_for(settings_for(database_url, redis_url, sse_max_duration_s="0.5")) as c:
        yield c


async def test_the_stream_starts_without_an_empty_data_line(short_stream_client: AsyncTestClient[Any]) -> None:
    response = await short_stream_client.get("/v1/alerts/stream", headers=auth())
    assert response.status_code == 200
    first = sse_frames(response.text)[0]
    assert first[0].startswith(": subscribed")
    assert not any(line.startswith("data:") for line in first), first


async def test_the_stream_takes_the_key_as_access_token_for_eventsource(
    short_stream_client: AsyncTestClient[Any],
) -> None:
    ok = await short_stream_client.get(f"/v1/alerts/stream?access_token={ADMIN_KEY}")
    assert ok.status_code == 200 and ok.text.startswith(": subscribed")
    assert (await short_stream_client.get("/v1/alerts/stream?access_token=nope")).status_code == 401
    assert (await short_stream_client.get(f"/v1/devices?access_token={ADMIN_KEY}")).status_code == 401  # only there


async def test_last_event_id_replays_the_alert_changes_missed(
    short_stream_client: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await append_history(conn, 1, 3)  # alerts 1-3 raised; alert-3 acknowledged, alert-2 auto-resolved
        changes = [
            (r["position"], r["type"], r["stream_id"])
            for r in await conn.fetch(
                "SELECT position, type, stream_id FROM events"
                " WHERE type LIKE 'Alert%' ORDER BY transaction_id, position"
            )
        ]
    assert len(changes) == 5
    seen = changes[0][0]  # the client saw alert-1 being raised, then lost its connection
    response = await short_stream_client.get("/v1/alerts/stream", headers={**auth(), "Last-Event-ID": str(seen)})
    frames = [f for f in sse_frames(response.text) if any(line.startswith("data:") for line in f)]
    replayed = [json.loads(next(line for line in f if line.startswith("data:")).removeprefix("data:")) for f in frames]
    assert [(c["position"], c["type"], c["alert"]["alert_id"]) for c in replayed] == changes[1:]
    # Each change carries the alert as it was then: alert-3 was open when raised.
    statuses = {"AlertRaised": "open", "AlertAcknowledged": "acknowledged", "AlertAutoResolved": "resolved"}
    assert all(c["alert"]["status"] == statuses[c["type"]] for c in replayed)
    ids = [line.removeprefix("id:").strip() for f in frames for line in f if line.startswith("id:")]
    assert ids == [str(c[0]) for c in changes[1:]]


async def test_a_client_without_last_event_id_gets_the_head_so_a_reconnect_loses_nothing(
    short_stream_client: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    empty = await short_stream_client.get("/v1/alerts/stream", headers=auth())
    assert "id: 0" in sse_frames(empty.text)[0]  # nothing stored yet: the start of the feed
    async with pool.acquire() as conn:
        await append_history(conn, 1, 1)
        head = await conn.fetchval("SELECT max(position) FROM events")
    first = sse_frames((await short_stream_client.get("/v1/alerts/stream", headers=auth())).text)[0]
    assert first[0].startswith(": subscribed") and f"id: {head}" in first, first
    assert not any(line.startswith("data:") for line in first), first  # EventSource keeps the id, fires nothing

    # The connection ends before any alert reaches it (no projector publishes here); meanwhile
    # alert-2 is raised. The browser reconnects with the announced id and is sent it.
    async with pool.acquire() as conn:
        await append_history(conn, 2, 2)
        raised = await conn.fetch(
            "SELECT position, stream_id FROM events WHERE type LIKE 'Alert%' AND position > $1 ORDER BY position", head
        )
    again = await short_stream_client.get("/v1/alerts/stream", headers={**auth(), "Last-Event-ID": str(head)})
    frames = [f for f in sse_frames(again.text) if any(line.startswith("data:") for line in f)]
    sent = [json.loads(next(line for line in f if line.startswith("data:")).removeprefix("data:")) for f in frames]
    assert [(c["position"], c["alert"]["alert_id"]) for c in sent] == [(r["position"], r["stream_id"]) for r in raised]
    assert sent and sent[0]["alert"]["alert_id"] == "alert-2"


# --- validation errors name what the client sent ------------------------------------------------


async def test_errors_name_the_query_parameter_header_and_body_field_sent(client: AsyncTestClient[Any]) -> None:
    await register(client)
    bad_from = await client.get(
        "/v1/devices/dev-1/readings?metric=temperature&from=nope&to=2026-01-02T00:00:00Z", headers=auth()
    )
    assert set(errors_of(bad_from)) == {"from"}
    bad_header = await client.get("/v1/devices", headers={**auth(), "X-Min-Position": "abc"})
    assert set(errors_of(bad_header)) == {"X-Min-Position"}
    not_an_object = await client.post("/v1/devices", json=[1, 2], headers=auth())
    assert "data" not in errors_of(not_an_object)
    missing = await client.post("/v1/devices", json={"name": "x", "site": "s", "kind": "k"}, headers=auth())
    assert set(errors_of(missing)) == {"metrics"}
    nested = await client.post(
        "/v1/devices", json={**DEVICE, "device_id": "d9", "metrics": [{"name": 1, "unit": "C"}]}, headers=auth()
    )
    assert set(errors_of(nested)) == {"metrics[0].name"}
    bad_severity = await client.put(
        "/v1/devices/dev-1/thresholds/temperature", json={"max": 5, "severity": "fatal"}, headers=auth()
    )
    assert set(errors_of(bad_severity)) == {"severity"}


async def test_every_4xx_validation_problem_has_an_errors_list(client: AsyncTestClient[Any]) -> None:
    await register(client)
    no_metric = await client.get(f"/v1/devices/dev-1/readings?{RANGE}", headers=auth())
    assert no_metric.status_code == 422
    assert set(errors_of(no_metric)) == {"metric"}
    no_from = await client.get("/v1/devices/dev-1/readings?metric=temperature&to=2026-01-02T00:00:00Z", headers=auth())
    assert set(errors_of(no_from)) == {"from"}
    backwards = await client.get(
        "/v1/alerts/history?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", headers=auth()
    )
    assert backwards.status_code == 422
    assert set(errors_of(backwards)) == {"to"}
    long_key = await client.post(
        "/v1/devices/dev-1/decommission", headers={**auth(), "Idempotency-Key": "k" * 300}
    )
    assert long_key.status_code == 422
    assert set(errors_of(long_key)) == {"Idempotency-Key"}


async def test_enum_errors_list_the_allowed_values(client: AsyncTestClient[Any]) -> None:
    await register(client)
    status = errors_of(await client.get("/v1/devices?status=foo", headers=auth()))["status"]
    assert "active" in status and "decommissioned" in status
    fill = errors_of(
        await client.get(
            f"/v1/devices/dev-1/readings?metric=temperature&{RANGE}&bucket=1h&fill=sideways", headers=auth()
        )
    )["fill"]
    assert all(v in fill for v in ("none", "null", "previous", "linear"))
    severity = errors_of(
        await client.put(
            "/v1/devices/dev-1/thresholds/temperature", json={"max": 5, "severity": "fatal"}, headers=auth()
        )
    )["severity"]
    assert all(v in severity for v in ("info", "warning", "critical"))


async def test_query_values_are_not_read_leniently(client: AsyncTestClient[Any]) -> None:
    await register(client)
    null = await client.get("/v1/devices?status=null", headers=auth())
    assert "decommissioned" in errors_of(null)["status"]
    assert set(errors_of(await client.get("/v1/devices/dev-1?version=null", headers=auth()))) == {"version"}
    number = await client.get("/v1/alerts/history?from=0.5&to=2026-01-01T00:00:00Z", headers=auth())
    assert "RFC 3339" in errors_of(number)["from"]


async def test_an_unencoded_plus_in_a_time_hints_at_url_encoding(client: AsyncTestClient[Any]) -> None:
    await register(client)
    response = await client.get(
        "/v1/devices/dev-1/readings?metric=temperature&from=2026-01-01T00:00:00+00:00&to=2026-01-02T00:00:00Z",
        headers=auth(),
    )
    assert response.status_code == 422
    assert "%2B" in errors_of(response)["from"]


# --- the OpenAPI document says what the server does ---------------------------------------------


async def _doc(client: AsyncTestClient[Any]) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


async def test_openapi_documents_request_and_response_headers(client: AsyncTestClient[Any]) -> None:
    doc = await _doc(client)
    paths = doc["paths"]

    def headers_in(op: dict[str, Any]) -> set[str]:
        return {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}

    for path, method in (
        ("/v1/devices", "post"),
        ("/v1/devices/{device_id}", "patch"),
        ("/v1/devices/{device_id}/decommission", "post"),
        ("/v1/alerts/{alert_id}/acknowledge", "post"),
    ):
        op = paths[path][method]
        assert "Idempotency-Key" in headers_in(op), f"{method} {path}"
        ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
        assert {"ETag", "X-Position"} <= set(ok.get("headers", {})), f"{method} {path}"
        if method != "post" or path != "/v1/devices":
            assert "If-Match" in headers_in(op), f"{method} {path}"
    assert "Location" in paths["/v1/devices"]["post"]["responses"]["201"]["headers"]
    assert "Idempotent-Replayed" in paths["/v1/devices"]["post"]["responses"]["201"]["headers"]
    get_device = paths["/v1/devices/{device_id}"]["get"]
    assert "X-Min-Position" in headers_in(get_device)
    assert {"ETag", "X-Stale"} <= set(get_device["responses"]["200"]["headers"])


async def test_openapi_documents_enums_bounds_closed_bodies_and_examples(client: AsyncTestClient[Any]) -> None:
    doc = await _doc(client)
    paths = doc["paths"]
    threshold = _resolve(
        doc,
        paths["/v1/devices/{device_id}/thresholds/{metric}"]["put"]["requestBody"]["content"]["application/json"][
            "schema"
        ],
    )
    assert set(threshold["properties"]["severity"]["enum"]) == {"info", "warning", "critical"}
    readings = {p["name"]: p["schema"] for p in paths["/v1/devices/{device_id}/readings"]["get"]["parameters"]}
    assert set(readings["fill"]["enum"]) == {"none", "null", "previous", "linear"}
    register_body = _resolve(doc, paths["/v1/devices"]["post"]["requestBody"]["content"]["application/json"]["schema"])
    for field in ("name", "site", "kind"):
        assert register_body["properties"][field].get("minLength") == 1, field
    for path, ops in paths.items():
        for method, op in ops.items():
            body = op.get("requestBody") if isinstance(op, dict) else None
            if not body or "application/json" not in body["content"]:
                continue
            media = body["content"]["application/json"]
            schema = _resolve(doc, media["schema"])
            assert schema.get("additionalProperties") is False, f"{method} {path}"
            assert "example" in media or "examples" in media, f"{method} {path} has no example"


async def test_a_body_of_another_media_type_is_415(client: AsyncTestClient[Any]) -> None:
    xml = await client.post(
        "/v1/devices", content=json.dumps(DEVICE).encode(), headers={**auth(), "Content-Type": "application/xml"}
    )
    assert xml.status_code == 415, xml.text
    assert xml.headers["content-type"].startswith("application/problem+json")
    charset = await client.post(
        "/v1/devices",
        content=json.dumps(DEVICE).encode(),
        headers={**auth(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 201, charset.text


# --- consistency token -----------------------------------------------------------------------


async def test_a_position_not_yet_written_waits_then_answers_stale(database_url: str, redis_url: str) -> None:
    async with client_for(settings_for(database_url, redis_url, read_wait_timeout_s="0.3")) as client:
        await register(client)
        started = time.monotonic()
        response = await client.get("/v1/devices", headers={**auth(), "X-Min-Position": "999999"})
        assert response.status_code == 200, response.text
        assert response.headers["x-stale"] == "true"
        assert time.monotonic() - started >= 0.25


# --- consistency across routes -----------------------------------------------------------------


async def test_the_stream_of_an_unknown_device_is_404(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/v1/devices/nosuch/events", headers=auth())
    assert response.status_code == 404
    assert "nosuch" in response.json()["detail"]


async def test_keys_and_projections_are_pages(client: AsyncTestClient[Any]) -> None:
    for name in ("a", "b"):
        created = await client.post("/v1/keys", json={"name": name, "scopes": ["read"]}, headers=auth())
        assert created.status_code == 201
    first = (await client.get("/v1/keys?limit=2", headers=auth())).json()
    assert isinstance(first, dict) and set(first) == {"items", "next_cursor"}, first
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (await client.get(f"/v1/keys?limit=2&cursor={first['next_cursor']}", headers=auth())).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {k["key_id"] for k in first["items"]}.isdisjoint({k["key_id"] for k in rest["items"]})
    projections = (await client.get("/v1/projections", headers=auth())).json()
    assert isinstance(projections, dict) and set(projections) == {"items", "next_cursor"}, projections
    assert {p["name"] for p in projections["items"]} == {"registry", "alert_history"}


async def test_next_cursor_is_taken_back_as_cursor(client: AsyncTestClient[Any]) -> None:
    for device_id in ("dev-1", "dev-2", "dev-3"):
        await register(client, device_id)
    await client.patch("/v1/devices/dev-1", json={"name": "renamed"}, headers=auth())
    first = (await client.get("/v1/events?limit=2", headers=auth())).json()
    second = (await client.get(f"/v1/events?limit=2&cursor={first['next_cursor']}", headers=auth())).json()
    assert [e["stream_id"] for e in first["items"] + second["items"]] == ["dev-1", "dev-2", "dev-3", "dev-1"]
    stream = (await client.get("/v1/devices/dev-1/events?limit=1", headers=auth())).json()
    rest = (await client.get(f"/v1/devices/dev-1/events?cursor={stream['next_cursor']}", headers=auth())).json()
    assert [e["type"] for e in stream["items"] + rest["items"]] == ["DeviceRegistered", "DeviceRenamed"]
    junk = await client.get("/v1/events?cursor=not-a-cursor", headers=auth())
    assert set(errors_of(junk)) == {"cursor"}


async def test_agg_or_fill_without_bucket_is_refused(client: AsyncTestClient[Any]) -> None:
    await register(client)
    for extra, field in (("agg=max", "agg"), ("fill=null", "fill")):
        response = await client.get(f"/v1/devices/dev-1/readings?metric=temperature&{RANGE}&{extra}", headers=auth())
        assert response.status_code == 422, extra
        assert "bucket" in errors_of(response)[field]


async def test_the_feed_takes_several_types_comma_separated(client: AsyncTestClient[Any]) -> None:
    await register(client)
    await client.patch("/v1/devices/dev-1", json={"name": "renamed", "site": "site-b"}, headers=auth())
    both = (await client.get("/v1/events?type=DeviceRegistered,DeviceRenamed", headers=auth())).json()
    assert [e["type"] for e in both["items"]] == ["DeviceRegistered", "DeviceRenamed"]
    repeated = (await client.get("/v1/events?type=DeviceRegistered&type=DeviceMoved", headers=auth())).json()
    assert [e["type"] for e in repeated["items"]] == ["DeviceRegistered", "DeviceMoved"]
    unknown = await client.get("/v1/events?type=DeviceExploded", headers=auth())
    assert "DeviceRegistered" in errors_of(unknown)["type"]


async def test_an_idempotent_replay_ignores_json_key_order_and_whitespace(client: AsyncTestClient[Any]) -> None:
    headers = {**auth(), "Idempotency-Key": "register-dev-1", "Content-Type": "application/json"}
    first = await client.post("/v1/devices", content=json.dumps(DEVICE).encode(), headers=headers)
    assert first.status_code == 201
    reordered = json.dumps(dict(reversed(list(DEVICE.items()))), indent=2).encode()
    again = await client.post("/v1/devices", content=reordered, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await client.post("/v1/devices", json={**DEVICE, "name": "other"}, headers=headers)
    assert other.status_code == 422


async def test_the_api_metrics_carry_projection_lag_and_open_alerts(
    client: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await append_history(conn, 1, 2)  # no projector runs here: every event is lag
        events = await conn.fetchval("SELECT count(*) FROM events")
    text = (await client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("sensorhub_projection_lag_events", (("projection", "registry"),))] == events
    assert ("sensorhub_open_alerts", (("severity", "critical"),)) in samples
