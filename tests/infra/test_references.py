"""Class: every reference inside the graph resolves (storage classes, service accounts and their role trust,
secrets and config maps pods read, security groups, subnets). Mocks accept a dangling reference; AWS and
Kubernetes do not (a Pending claim, a pod stuck in CreateContainerConfigError, an AccessDenied)."""

from __future__ import annotations

import json
from typing import Any

from infra.offline.checks import unresolved_references
from infra.offline.mocks import Graph
from tests.infra.conftest import recorded
from tests.infra.variants import changed, k8s_named, named, without

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
ROLE = "aws:iam/role:Role"


def test_every_reference_resolves(graph: Graph) -> None:
    assert unresolved_references(graph) == []


def test_a_storage_class_nothing_creates_is_caught() -> None:
    """Review row 5: Prometheus asked for `gp3`, which nothing created."""
    old = without(recorded("prod"), lambda r: r.type == STORAGE_CLASS)
    problems = unresolved_references(old)
    assert any("StorageClass 'gp3', which nothing creates" in p for p in problems), problems


def test_a_role_trusting_only_the_efs_controller_is_caught() -> None:
    """Review row 10: the EFS CSI role trusted only efs-csi-controller-sa; the node daemonset calls AWS too."""

    def controller_only(inputs: dict[str, Any]) -> None:
        policy = json.loads(inputs["assumeRolePolicy"])
        condition = policy["Statement"][0]["Condition"]
        sub = next(k for k in condition["StringLike"] if k.endswith(":sub"))
        condition["StringEquals"][sub] = "system:serviceaccount:kube-system:efs-csi-controller-sa"
        del condition["StringLike"]
        inputs["assumeRolePolicy"] = json.dumps(policy)

    old = changed(recorded("dev"), named(ROLE, "cluster-aws-efs-csi-driver"), controller_only)
    problems = unresolved_references(old)
    assert any("kube-system/efs-csi-node-sa calls AWS" in p for p in problems), problems


def test_a_role_whose_trust_misses_its_service_account_is_caught() -> None:
    def other_namespace(inputs: dict[str, Any]) -> None:
        inputs["assumeRolePolicy"] = inputs["assumeRolePolicy"].replace("sensorhub:sensorhub", "default:sensorhub")

    problems = unresolved_references(changed(recorded("dev"), named(ROLE, "service-workload"), other_namespace))
    assert any("does not trust service account sensorhub/sensorhub" in p for p in problems), problems
    assert any("trusts default/sensorhub, which no service account matches" in p for p in problems), problems


def test_a_secret_or_config_map_a_pod_reads_must_exist() -> None:
    graph = recorded("staging")
    no_env = without(graph, k8s_named("kubernetes:external-secrets.io/v1:ExternalSecret", "sensorhub-env"))
    assert any("reads secret sensorhub/sensorhub-env, which nothing creates" in p
               for p in unresolved_references(no_env))
    no_script = without(graph, k8s_named("kubernetes:core/v1:ConfigMap", "sensorhub-database-bootstrap"))
    assert any("reads configMap sensorhub/sensorhub-database-bootstrap" in p for p in unresolved_references(no_script))


def test_security_groups_and_subnets_must_exist() -> None:
    def foreign_sg(inputs: dict[str, Any]) -> None:
        inputs["vpcSecurityGroupIds"] = ["sg-0123456789abcdef0"]

    old = changed(recorded("dev"), lambda r: r.type == "aws:rds/instance:Instance", foreign_sg)
    assert any("vpcSecurityGroupIds refers to 'sg-0123456789abcdef0'" in p for p in unresolved_references(old))
    old = without(recorded("dev"), lambda r: r.type == "aws:ec2/subnet:Subnet" and r.name == "network-isolated-0")
    assert any("refers to" in p and "subnetIds" in p for p in unresolved_references(old))
