"""Foundation behaviour through HTTP: auth and scopes, errors, limits, health."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from sensorhub import apikeys

from tests.support.app import ADMIN_KEY, auth, client_for, settings_for
from tests.support.proxy import CuttableProxy


async def new_key(client: AsyncTestClient[Any], *scopes: str) -> dict[str, Any]:
    response = await client.post("/v1/keys", json={"name": "t", "scopes": list(scopes)}, headers=auth())
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_missing_and_unknown_keys_get_401_as_problem_json(client: AsyncTestClient[Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer nope-not-a-key"}, {"Authorization": "Basic abc"}):
        response = await client.get("/v1/keys/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == 401
        assert set(body) >= {"type", "title", "status", "detail"}


async def test_scopes_are_enforced(client: AsyncTestClient[Any]) -> None:
    reader = await new_key(client, "read")
    assert (await client.get("/v1/keys/me", headers=auth(reader["secret"]))).json()["scopes"] == ["read"]
    forbidden = await client.get("/v1/keys", headers=auth(reader["secret"]))
    assert forbidden.status_code == 403
    assert "admin" in forbidden.json()["detail"]
    allowed = await client.get("/v1/keys", headers=auth())
    assert allowed.status_code == 200
    assert reader["key_id"] in [k["key_id"] for k in allowed.json()["items"]]


async def test_revoked_key_is_refused(client: AsyncTestClient[Any]) -> None:
    key = await new_key(client, "read")
    assert (await client.get("/v1/keys/me", headers=auth(key["secret"]))).status_code == 200
    assert (await client.delete(f"/v1/keys/{key['key_id']}", headers=auth())).status_code == 204
    assert (await client.get("/v1/keys/me", headers=auth(key["secret"]))).status_code == 401
    assert (await client.delete(f"/v1/keys/{key['key_id']}", headers=auth())).status_code == 404
    own = (await client.get("/v1/keys/me", headers=auth())).json()["key_id"]
    assert (await client.delete(f"/v1/keys/{own}", headers=auth())).status_code == 409  # no self-lockout


async def test_keys_are_stored_hashed(client: AsyncTestClient[Any], database_url: str) -> None:
    key = await new_key(client, "ingest")
    conn = await asyncpg.connect(database_url)
    try:
        dump = await conn.fetch("SELECT * FROM api_keys")
        stored = await conn.fetchval("SELECT key_hash FROM api_keys WHERE key_id = $1", key["key_id"])
    finally:
        await conn.close()
    text = repr([dict(r) for r in dump])
    assert key["secret"] not in text
    assert ADMIN_KEY not in text
    assert stored == apikeys.digest(key["secret"])


async def test_unknown_scope_and_unknown_fields_are_422(client: AsyncTestClient[Any]) -> None:
    bad_scope = await client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=auth())
    assert bad_scope.status_code == 422
    assert bad_scope.json()["errors"][0]["field"] == "scopes[0]"
    assert "read, write, ingest, admin" in bad_scope.json()["errors"][0]["message"]
    unknown = await client.post("/v1/keys", json={"name": "x", "scopes": ["read"], "admin": True}, headers=auth())
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert "admin" in unknown.text


async def test_body_over_the_limit_is_413(database_url: str) -> None:
    async with client_for(settings_for(database_url, MAX_BODY_BYTES="2048")) as client:
        response = await client.post(
            "/v1/keys", content=b'{"name": "' + b"x" * 4096 + b'", "scopes": ["read"]}', headers=auth()
        )
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("application/problem+json")
        small = await client.post("/v1/keys", json={"name": "y", "scopes": ["read"]}, headers=auth())
        assert small.status_code == 201


async def test_request_id_is_echoed_or_made(client: AsyncTestClient[Any]) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert len(made.headers["x-request-id"]) == 32


async def test_openapi_document_describes_the_api(client: AsyncTestClient[Any]) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert "/v1/keys/me" in doc["paths"]
    assert doc["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


async def test_metrics_are_public_and_name_the_service(client: AsyncTestClient[Any]) -> None:
    await client.get("/v1/keys/me", headers=auth())
    text = (await client.get("/metrics")).text
    assert "sensorhub_http_requests_total" in text
    assert 'path="/v1/keys/me"' in text


async def test_readiness_follows_the_database(database_url: str) -> None:
    host_port = database_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    proxy = CuttableProxy(host, int(port))
    await proxy.start()
    proxied = database_url.replace(host_port, f"127.0.0.1:{proxy.port}")
    try:
        async with client_for(settings_for(proxied)) as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["database"]["ok"] is True

            await proxy.cut()
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["checks"]["database"]["ok"] is False
            assert (await client.get("/health/live")).status_code == 200
            during = await client.get("/v1/keys/me", headers=auth())
            assert during.status_code == 503
            assert during.headers["retry-after"] == "1"

            await proxy.restore()
            for _ in range(50):
                if (await client.get("/health/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/health/ready")).status_code == 200
            assert (await client.get("/v1/keys/me", headers=auth())).status_code == 200
    finally:
        await proxy.stop()


async def test_readiness_is_503_when_migrations_lag(client: AsyncTestClient[Any], database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    finally:
        await conn.close()
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert "sensorhub migrate" in response.json()["checks"]["database"]["detail"]


async def test_a_dropped_database_is_503_not_500(database_url: str) -> None:
    """A database dropped or being restored under a running service is an outage, not a bug."""
    async with client_for(settings_for(database_url)) as client:
        assert (await client.get("/v1/keys/me", headers=auth())).status_code == 200
        admin = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
        try:
            await admin.execute(f'DROP DATABASE "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()
        response = await client.get("/v1/keys/me", headers=auth())
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert response.json()["detail"] == "the database is unavailable; retry shortly"
