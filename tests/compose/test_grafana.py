"""Grafana: dashboards refer to provisioned data sources, cover what the issue asks, and their SQL runs."""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
from sensorhub.timeseries import engines

from tests.compose.support import COMPOSE, load, services

GRAFANA = COMPOSE / "grafana"


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def _datasource_uids(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["datasource"]["uid"]} if isinstance(node.get("datasource"), dict) else set()
        return found.union(*(_datasource_uids(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_datasource_uids(v) for v in node))
    return set()


def _sql_queries() -> list[str]:
    queries: list[str] = []
    for dashboard in _dashboards().values():
        queries += [t["rawSql"] for p in dashboard["panels"] for t in p.get("targets", []) if "rawSql" in t]
        variables = dashboard["templating"]["list"]
        queries += [v["query"] for v in variables if v.get("datasource", {}).get("uid") == "timescaledb"]
    return queries


def test_dashboards_use_only_provisioned_data_sources() -> None:
    provisioned = {d["uid"] for d in load(GRAFANA / "provisioning" / "datasources" / "datasources.yml")["datasources"]}
    dashboards = _dashboards()
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)
    for name, dashboard in dashboards.items():
        assert _datasource_uids(dashboard) <= provisioned, name
    provider = load(GRAFANA / "provisioning" / "dashboards" / "sensorhub.yml")["providers"][0]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in services()["grafana"]["volumes"]


def test_dashboards_cover_the_issue() -> None:
    titles = {p["title"] for d in _dashboards().values() for p in d["panels"]}
    for wanted in ("Ingest rate", "Events appended", "Projection lag", "Open alerts by severity",
                   "Request latency percentiles", "Readings: $metric"):
        assert any(t.startswith(wanted) for t in titles), wanted


def _as_plain_sql(query: str) -> str:
    """Grafana's macros and variables replaced by what they expand to, for a sample device and metric."""
    query = re.sub(r"\$__timeGroupAlias\((\w+),\s*\$__interval\)", r"date_trunc('minute', \1) AS time", query)
    query = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 hour' AND now()", query)
    return query.replace("($device)", "('dev-1')").replace("'$metric'", "'temperature'")


async def test_reading_queries_run_against_the_migrated_schema(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await engines.prepare(conn)  # what `sensorhub migrate` does after the SQL migrations
        columns = {r["column_name"] for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'readings'")}
        assert {"device_id", "metric", "time", "value"} <= columns
        queries = _sql_queries()
        assert len(queries) >= 3
        for query in queries:
            await conn.execute("EXPLAIN " + _as_plain_sql(query))
    finally:
        await conn.close()
