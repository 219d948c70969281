"""Every route in the OpenAPI document (except health, metrics and the schema) refuses a missing key,
an unknown key, a revoked key (401) and a key without the scope it needs (403)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from sensorhub.apikeys import SCOPES

from tests.support.app import auth, client_for, settings_for

PUBLIC = ("/health", "/metrics", "/schema")


def needed_scopes(app: Litestar) -> dict[tuple[str, str], str | None]:
    """(METHOD, path as in the OpenAPI document) -> the ``scope`` the handler declares."""
    out: dict[tuple[str, str], str | None] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path_format or route.path)
        for handler in route.route_handlers:
            for method in handler.http_methods:
                out[(method.upper(), path.rstrip("/") or "/")] = handler.opt.get("scope")
    return out


def concrete(path: str, spec_op: dict[str, Any]) -> str:
    values = {}
    for param in spec_op.get("parameters", []):
        if param.get("in") == "path":
            kind = (param.get("schema") or {}).get("type")
            values[param["name"]] = "1" if kind == "integer" else "probe-1"
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], "probe-1"), path)


async def test_every_route_refuses_bad_keys(database_url: str) -> None:
    async with client_for(settings_for(database_url)) as client:
        spec = (await client.get("/schema/openapi.json")).json()
        scopes = needed_scopes(client.app)

        created = (await client.post("/v1/keys", json={"name": "to revoke", "scopes": ["admin"]}, headers=auth()))
        assert created.status_code == 201, created.text
        revoked_key = created.json()["secret"]
        assert (await client.delete(f"/v1/keys/{created.json()['key_id']}", headers=auth())).status_code == 204

        narrow: dict[str, str] = {}  # needed scope -> a key holding every other non-admin scope
        for scope in SCOPES:
            others = [s for s in SCOPES if s not in (scope, "admin")]
            r = await client.post("/v1/keys", json={"name": f"without {scope}", "scopes": others}, headers=auth())
            assert r.status_code == 201, r.text
            narrow[scope] = r.json()["secret"]

        probes = {
            "missing": {},
            "unknown": auth("shk_" + secrets.token_urlsafe(32)),
            "revoked": auth(revoked_key),
            "malformed": {"Authorization": "Basic dXNlcjpwYXNz"},
        }
        checked = 0
        problems: list[str] = []
        for path, item in spec["paths"].items():
            if path.startswith(PUBLIC):
                continue
            for method, op in item.items():
                if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                    continue
                url = concrete(path, op)
                scope = scopes.get((method.upper(), path.rstrip("/") or "/"))
                for name, headers in probes.items():
                    r = await client.request(method.upper(), url, headers=headers, json={})
                    if r.status_code != 401:
                        problems.append(f"{method.upper()} {path} with a {name} key: {r.status_code}")
                    elif not r.headers.get("content-type", "").startswith("application/problem+json"):
                        problems.append(f"{method.upper()} {path}: 401 is not problem+json")
                    if "www-authenticate" not in r.headers:
                        problems.append(f"{method.upper()} {path}: 401 without WWW-Authenticate")
                if scope is None:
                    problems.append(f"{method.upper()} {path}: no scope declared")
                elif scope != "any":
                    r = await client.request(method.upper(), url, headers=auth(narrow[scope]), json={})
                    if r.status_code != 403:
                        problems.append(f"{method.upper()} {path} with a key lacking `{scope}`: {r.status_code}")
                checked += 1
        assert checked >= 10, f"only {checked} operations checked"
        assert not problems, "\n".join(problems)
