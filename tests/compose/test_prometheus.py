"""Prometheus: promtool on the config, the rules and the rules' unit tests; scrape targets match compose."""

from __future__ import annotations

from tests.compose.support import COMPOSE, load, run, services, tool

PROM = COMPOSE / "prometheus"


def test_promtool_accepts_the_config() -> None:
    result = run(tool("promtool"), "check", "config", str(PROM / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    result = run(tool("promtool"), "check", "rules", str(PROM / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_its_situation() -> None:
    result = run(tool("promtool"), "test", "rules", str(PROM / "rules.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_cover_ingest_projection_5xx_and_database() -> None:
    names = {rule["alert"] for group in load(PROM / "rules.yml")["groups"] for rule in group["rules"]}
    assert {"SensorhubIngestStalled", "SensorhubProjectionLagHigh", "SensorhubHigh5xxRate",
            "SensorhubDatabaseDown"} <= names
    tested = load(PROM / "rules.test.yml")
    fired = {case["alertname"] for test in tested["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert fired == names, f"alerts without a firing test: {sorted(names - fired)}"


def test_scrape_targets_are_the_compose_services() -> None:
    config = load(PROM / "prometheus.yml")
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]] for job in config["scrape_configs"]
    }
    assert targets["sensorhub-api"] == ["api:8000"]
    assert targets["sensorhub-projector"] == ["projector:8001"]
    assert services()["projector"]["expose"] == ["8001"]
    mounts = services()["prometheus"]["volumes"]
    assert "./prometheus/rules.yml:/etc/prometheus/rules.yml:ro" in mounts
