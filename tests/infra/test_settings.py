"""A bad stack file fails before any resource is declared, with a message that says what to fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.offline.mocks import attempt_program, read_stack_config, run_program, stack_file
from infra.settings import SettingsError


def _config(stack: str) -> dict[str, Any]:
    return copy.deepcopy(read_stack_config(stack_file(stack)))


def _fails(stack: str, config: dict[str, Any], secrets: dict[str, str] | None = None) -> str:
    graph, failure = attempt_program(stack, config, secrets)
    assert isinstance(failure, SettingsError), failure
    assert graph.resources == [], "resources were declared before the settings were validated"
    return str(failure)


def test_missing_object_names_key_and_stack() -> None:
    config = _config("staging")
    del config["sensorhub:database"]
    message = _fails("staging", config)
    assert "Pulumi.staging.yaml" in message and "sensorhub:database is missing" in message


def test_missing_nested_key() -> None:
    config = _config("dev")
    del config["sensorhub:network"]["azCount"]
    assert "Pulumi.dev.yaml: sensorhub:network.azCount is missing" in _fails("dev", config)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("sensorhub:network", "azCount", "three", "sensorhub:network.azCount must be an integer between 2 and 3, "
                                                  "got 'three' (str)"),
        ("sensorhub:network", "azCount", 5, "sensorhub:network.azCount must be between 2 and 3, got 5"),
        ("sensorhub:network", "cidr", "10.0.0.0/33", "sensorhub:network.cidr must be a CIDR block"),
        ("sensorhub:network", "natGateways", "one", "sensorhub:network.natGateways must be 'single' or 'perAz'"),
        ("sensorhub:database", "multiAz", "yes", "sensorhub:database.multiAz must be true or false"),
        ("sensorhub:database", "timeseriesBackend", "influx", "must be 'rds' or 'timescale'"),
        ("sensorhub:cluster", "publicAccessCidrs", ["0.0.0.0/0"], "0.0.0.0/0 would open the Kubernetes API"),
        ("sensorhub:network", "azCuont", 2, "has unknown key(s) azCuont"),
    ],
)
def test_wrong_values_are_explained(section: str, key: str, value: Any, expected: str) -> None:
    config = _config("dev")
    config[section][key] = value
    message = _fails("dev", config)
    assert "Pulumi.dev.yaml" in message and expected in message


def test_node_group_sizes_must_be_ordered() -> None:
    config = _config("dev")
    config["sensorhub:cluster"]["nodeGroups"][0]["desiredSize"] = 9
    assert "nodeGroups[0] must satisfy minSize <= desiredSize <= maxSize" in _fails("dev", config)


def test_prod_with_a_single_nat_is_refused() -> None:
    config = _config("prod")
    config["sensorhub:network"]["natGateways"] = "single"
    message = _fails("prod", config)
    assert "Pulumi.prod.yaml breaks the prod hardening rules" in message
    assert "sensorhub:network.natGateways must be 'perAz' in prod" in message


def test_prod_hardening_lists_every_problem_at_once() -> None:
    config = _config("prod")
    config["sensorhub:database"]["multiAz"] = False
    config["sensorhub:database"]["backupRetentionDays"] = 3
    config["sensorhub:cache"]["replicas"] = 0
    config["sensorhub:protection"]["enabled"] = False
    config["sensorhub:cluster"]["publicAccessCidrs"] = ["203.0.113.0/24"]
    message = _fails("prod", config)
    for fragment in ("multiAz must be true", "backupRetentionDays must be 14..35", "cache.replicas must be >= 1",
                     "protection.enabled must be true", "publicAccessCidrs must be empty"):
        assert fragment in message


def test_environment_must_be_known() -> None:
    config = _config("dev")
    config["sensorhub:environment"] = "qa"
    assert "sensorhub:environment must be 'dev', 'staging' or 'prod', got 'qa'" in _fails("dev", config)


def test_stack_files_hold_no_clear_secrets() -> None:
    for stack in ("dev", "staging", "prod"):
        text = stack_file(stack).read_text().lower()
        for word in ("password", "token", "dsn", "secret", "adminkey"):
            assert f"{word}:" not in text.replace("sensorhub:", ""), (stack, word)


def test_timescale_backend_needs_its_dsn_secret() -> None:
    config = _config("dev")
    config["sensorhub:database"]["timeseriesBackend"] = "timescale"
    config["sensorhub:database"]["timescale"] = {"peerVpcId": "vpc-0123", "peerCidr": "10.99.0.0/16",
                                                 "peerOwnerId": "210987654321", "peerRegion": "eu-west-1"}
    assert "sensorhub:timescaleDsn is missing; set it with `pulumi config set --secret" in _fails("dev", config)

    dsn = "postgresql://tsdb:MOCK-SECRET-tsdb@tsdb.internal:5432/sensorhub"
    graph = run_program("dev", config, {"timescaleDsn": dsn})
    assert graph.count("aws:rds/instance:Instance") == 0
    assert graph.count("aws:ec2/vpcPeeringConnection:VpcPeeringConnection") == 1
    assert graph.count("aws:ec2/route:Route") == 2  # one per private route table
    alarms = graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert not any(a.props.get("namespace") == "AWS/RDS" for a in alarms)
    external = graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")[0].props["spec"]
    assert external["target"]["template"]["data"]["SENSORHUB_DATABASE_URL"] == "{{ .db_dsn }}"
    config_map = next(c for c in graph.of_type("kubernetes:core/v1:ConfigMap")
                      if c.props["metadata"]["name"] == "sensorhub-config")
    assert config_map.props["data"]["SENSORHUB_TIMESERIES_ENGINE"] == "timescaledb"
    from infra.offline.mocks import clear_strings

    assert not any(dsn in s for r in graph for s in clear_strings(r.inputs))
