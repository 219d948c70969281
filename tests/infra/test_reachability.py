"""Class: `pulumi up` can reach every API it applies objects through. The same `up` that creates the cluster
applies Helm releases and Kubernetes objects, so a private-only endpoint fails the first prod `up` at the first
Kubernetes resource (review row 3). Mocks never try to connect."""

from __future__ import annotations

import copy

import pytest

from infra.offline.checks import deploy_reachability
from infra.offline.mocks import Graph, read_stack_config, run_program, stack_file
from infra.settings import SettingsError
from tests.infra.conftest import recorded
from tests.infra.variants import changed


def _deployers(stack: str) -> list[str]:
    return read_stack_config(stack_file(stack))["sensorhub:cluster"]["deployerCidrs"]


def test_the_deploy_runners_reach_every_cluster(graph: Graph) -> None:
    assert graph.kubernetes(), "nothing to reach: the check would be vacuous"
    assert deploy_reachability(graph, _deployers(graph.stack)) == []


def test_the_old_private_only_prod_endpoint_is_caught() -> None:
    def private_only(inputs: dict[str, object]) -> None:
        inputs["endpointPublicAccess"] = False
        inputs.pop("publicAccessCidrs", None)

    old = changed(recorded("prod"), lambda r: r.type == "eks:index:Cluster", private_only)
    problems = deploy_reachability(old, _deployers("prod"))
    assert problems and "private-only" in problems[0]


def test_a_runner_outside_the_allow_list_is_caught() -> None:
    assert deploy_reachability(recorded("staging"), ["192.0.2.7/32"]) == [
        "deploy runner 192.0.2.7/32 is not in cluster sensorhub-staging's endpoint allow-list"]


def test_settings_require_the_deploy_runners() -> None:
    config = copy.deepcopy(read_stack_config(stack_file("prod")))
    del config["sensorhub:cluster"]["deployerCidrs"]
    with pytest.raises(SettingsError, match=r"sensorhub:cluster.deployerCidrs is missing"):
        run_program("prod", config)
    config["sensorhub:cluster"]["deployerCidrs"] = ["198.51.0.0/20"]
    with pytest.raises(SettingsError, match=r"deployerCidrs must be the deploy runners' egress addresses"):
        run_program("prod", config)
