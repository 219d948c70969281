"""Every metric the dashboards and alert rules use is one the running service exports on /metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.compose.support import COMPOSE, load
from tests.support.app import auth, client_for, settings_for

METRIC = re.compile(r"\bsensorhub_[a-zA-Z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _expressions(node: Any) -> Iterator[str]:
    """Every PromQL expression in a dashboard (panel targets and template queries)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query") and isinstance(value, str):
                yield value
            else:
                yield from _expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)


def used_metric_names() -> dict[str, set[str]]:
    """Metric name -> the files that use it."""
    used: dict[str, set[str]] = {}
    rules = load(COMPOSE / "prometheus" / "rules.yml")
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in METRIC.findall(rule["expr"]):
                used.setdefault(name, set()).add("prometheus/rules.yml")
    for path in sorted((COMPOSE / "grafana" / "dashboards").glob("*.json")):
        for expr in _expressions(json.loads(path.read_text())):
            for name in METRIC.findall(expr):
                used.setdefault(name, set()).add(f"grafana/dashboards/{path.name}")
    return used


def exported_series_names(exposition: str) -> set[str]:
    """The series names a scrape of this exposition can yield, including families with no sample yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


async def test_dashboards_and_rules_use_only_exported_metrics(database_url: str, redis_url: str) -> None:
    used = used_metric_names()
    assert len(used) >= 10, f"expected the dashboards and rules to use the service's metrics, found {sorted(used)}"
    async with client_for(settings_for(database_url, redis_url)) as client:
        # Exercise the API so the request metrics (created on first use) exist; the status codes
        # are not the point here (other tests own the endpoints).
        assert (await client.get("/health/ready")).status_code in (200, 503)
        await client.get("/v1/events", headers=auth())
        await client.get("/v1/events")
        assert (await client.get("/schema/openapi.json")).status_code == 200
        response = await client.get("/metrics")
    assert response.status_code == 200
    exported = exported_series_names(response.text)
    # The API and the projector load the same metric definitions (sensorhub.observability), so the
    # API's exposition lists the projector's families too.
    missing = {name: sorted(files) for name, files in used.items() if name not in exported}
    assert not missing, f"used but not exported on /metrics: {missing}"


def test_the_metric_extraction_sees_each_panel_kind() -> None:
    used = used_metric_names()
    for name in ("sensorhub_http_request_duration_seconds_bucket", "sensorhub_readings_ingested_total",
                 "sensorhub_events_appended_total", "sensorhub_projection_lag_seconds", "sensorhub_open_alerts",
                 "sensorhub_database_up", "sensorhub_http_requests_total"):
        assert name in used, name
    assert exported_series_names("# HELP x_total c\n# TYPE x_total counter\n") == {"x_total", "x_created"}
