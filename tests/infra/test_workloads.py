"""Classes of silent non-function that mocks never notice: a scaler without metrics or fighting server-side apply,
credentials rotating under running pods, a log group nobody writes, an always-firing alert paging people,
a lifecycle rule S3 refuses, pod subnets too small for the pods (review rows 7, 8 and 10)."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

import pytest

from infra.components.cluster import ClusterSettings
from infra.components.observability import ALWAYS_FIRING
from infra.offline.checks import log_groups_without_writer, master_credential_readers, scaling_problems
from infra.offline.mocks import Graph, read_stack_config, run_program, stack_file
from infra.settings import SettingsError
from tests.infra.conftest import recorded
from tests.infra.variants import changed, k8s_named, named, without

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
# Pods per node with the VPC CNI (no prefix delegation): EKS's max-pods for the largest instance we allow is 110.
MAX_PODS_PER_NODE = 110


def _master_secret_arn(graph: Graph) -> str:
    master = next(e for e in graph.of_type(EXTERNAL_SECRET)
                  if e.props["metadata"]["name"] == "sensorhub-database-master")
    return master.props["spec"]["data"][0]["remoteRef"]["key"]


# ----------------------------------------------------------------------------- row 7: HPA


def test_the_hpa_has_metrics_and_owns_the_replicas(graph: Graph) -> None:
    assert scaling_problems(graph) == []
    api = next(d for d in graph.of_type(DEPLOYMENT) if d.props["metadata"]["name"] == "sensorhub-api")
    assert "replicas" not in api.props["spec"]
    others = [d for d in graph.of_type(DEPLOYMENT) if d is not api]
    assert all(d.props["spec"]["replicas"] >= 1 for d in others)  # not scaled: the stack file decides


def test_the_old_scaling_is_caught() -> None:
    def with_replicas(inputs: dict[str, Any]) -> None:
        inputs["spec"]["replicas"] = 3.0

    graph = recorded("prod")
    replicas = changed(graph, k8s_named(DEPLOYMENT, "sensorhub-api"), with_replicas)
    assert any("declares spec.replicas while HPA" in p for p in scaling_problems(replicas))
    no_metrics = without(graph, lambda r: r.type == "aws:eks/addon:Addon" and r.props["addonName"] == "metrics-server")
    assert any("nothing installs metrics-server" in p for p in scaling_problems(no_metrics))


# ----------------------------------------------------------------------------- row 8: database credentials


def test_only_the_bootstrap_job_reads_the_master_credentials(graph: Graph) -> None:
    assert master_credential_readers(graph, _master_secret_arn(graph)) == []
    url_secret = next(s for s in graph.of_type("kubernetes:core/v1:Secret")
                      if s.props["metadata"]["name"] == "sensorhub-database")
    assert isinstance(url_secret.inputs["stringData"], dict)  # a secret in the state, never in clear
    url = url_secret.props["stringData"]["SENSORHUB_DATABASE_URL"]
    assert url.startswith("postgresql://sensorhub_app:") and "sensorhub_admin" not in url
    for deployment in graph.of_type(DEPLOYMENT):
        annotations = deployment.props["spec"]["template"]["metadata"]["annotations"]
        assert "sensorhub.io/database-credentials" in annotations  # pods roll when the password is rotated


def test_the_old_master_credentials_in_the_service_env_are_caught() -> None:
    """Review row 8: sensorhub-env templated the RDS master username/password for every pod (envFrom)."""
    graph = recorded("staging")
    arn = _master_secret_arn(graph)

    def master_in_env(inputs: dict[str, Any]) -> None:
        inputs["spec"]["data"].append({"secretKey": "db_password", "remoteRef": {"key": arn, "property": "password"}})

    old = changed(graph, k8s_named(EXTERNAL_SECRET, "sensorhub-env"), master_in_env)
    problems = master_credential_readers(old, arn)
    assert {p.split()[0] for p in problems} == {"service-api", "service-projector", "service-maintenance",
                                                 "service-migrate"}


# ----------------------------------------------------------------------------- row 10: logs, alerts, S3, subnets


def test_every_log_group_has_a_writer(graph: Graph) -> None:
    assert log_groups_without_writer(graph) == []


def test_a_log_group_nothing_writes_is_caught() -> None:
    """Review row 10: /<prefix>/application existed, nothing shipped logs to it."""
    old = without(recorded("dev"), lambda r: r.name in ("addons-fluent-bit", "addons-fluent-bit-0"))
    assert log_groups_without_writer(old) == [
        "log group /sensorhub-dev/application (addons-application-logs): nothing writes to it"]


def paging_always_firing(alertmanager: dict[str, Any]) -> list[str]:
    """Alerts that fire by design and would reach a paging receiver (the chart's default config routes them to
    "null"; a config of ours replaces that default)."""
    config = alertmanager.get("config")
    if config is None:
        return []
    routes = config["route"].get("routes") or []
    silenced = {m.split('"')[1] for r in routes if r["receiver"] == "null" for m in r.get("matchers") or []}
    null_receivers = [r for r in config["receivers"] if r["name"] == "null" and len(r) == 1]
    return [f"{alert} reaches receiver {config['route']['receiver']!r}" for alert in ALWAYS_FIRING
            if alert not in silenced or not null_receivers]


def _alertmanager(graph: Graph) -> dict[str, Any]:
    return next(r for r in graph.of_type("kubernetes:helm.sh/v3:Release")
                if r.props["chart"] == "kube-prometheus-stack").props["values"]["alertmanager"]


def test_always_firing_alerts_never_page(graph: Graph) -> None:
    assert paging_always_firing(_alertmanager(graph)) == []
    assert ("config" in _alertmanager(graph)) is (graph.stack != "dev")  # dev keeps the chart's default


def test_the_old_watchdog_paging_is_caught() -> None:
    """Review row 10: every alert, Watchdog included, went to SNS and the on-call e-mail."""
    old = copy.deepcopy(_alertmanager(recorded("prod")))
    old["config"]["route"].pop("routes")
    old["config"]["receivers"] = [r for r in old["config"]["receivers"] if r["name"] != "null"]
    assert paging_always_firing(old) == ["Watchdog reaches receiver 'sns'", "InfoInhibitor reaches receiver 'sns'"]


@pytest.mark.parametrize(("ia", "glacier", "ok"), [(30, 31, False), (30, 59, False), (30, 60, True), (45, 75, True)])
def test_glacier_comes_thirty_days_after_standard_ia(ia: int, glacier: int, ok: bool) -> None:
    config = copy.deepcopy(read_stack_config(stack_file("dev")))
    config["sensorhub:storage"].update(archiveInfrequentAccessAfterDays=ia, archiveGlacierAfterDays=glacier)
    if ok:
        run_program("dev", config)
    else:
        with pytest.raises(SettingsError, match="S3 keeps objects 30 days in Standard-IA before Glacier"):
            run_program("dev", config)


def test_lifecycle_transitions_are_thirty_days_apart(graph: Graph) -> None:
    rule = graph.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0].props["rules"][0]
    ia, glacier = (t["days"] for t in rule["transitions"])
    assert ia >= 30 and glacier - ia >= 30 and rule["expiration"]["days"] > glacier


def pod_capacity_problems(graph: Graph, max_nodes: int) -> list[str]:
    """Every private (pod) subnet can hold all pods of all nodes, should the nodes land in one AZ."""
    needed = max_nodes * (MAX_PODS_PER_NODE + 1)
    return [f"{s.name} {s.props['cidrBlock']}: {ipaddress.ip_network(s.props['cidrBlock']).num_addresses - 5} "
            f"addresses for up to {needed} pod and node IPs"
            for s in graph.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name
            and ipaddress.ip_network(s.props["cidrBlock"]).num_addresses - 5 < needed]


def _max_nodes(stack: str) -> int:
    return sum(g["maxSize"] for g in read_stack_config(stack_file(stack))["sensorhub:cluster"]["nodeGroups"])


def test_pod_subnets_hold_the_pods(graph: Graph) -> None:
    assert pod_capacity_problems(graph, _max_nodes(graph.stack)) == []
    assert all(ipaddress.ip_network(s.props["cidrBlock"]).prefixlen == 19
               for s in graph.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name)


def test_the_old_24_pod_subnets_are_caught() -> None:
    """Review row 10: /24 private subnets (251 addresses) for up to 9 nodes' pods in prod."""

    def slash_24(inputs: dict[str, Any]) -> None:
        inputs["cidrBlock"] = inputs["cidrBlock"].rsplit(".", 2)[0] + ".10.0/24"

    old = changed(recorded("prod"), lambda r: r.type == "aws:ec2/subnet:Subnet" and "-private-" in r.name, slash_24)
    assert len(pod_capacity_problems(old, _max_nodes("prod"))) == 3


def test_network_policy_is_enforced(graph: Graph) -> None:
    assert graph.of_type("eks:index:Cluster")[0].props["vpcCniOptions"]["enableNetworkPolicy"] is True
    assert graph.count("kubernetes:networking.k8s.io/v1:NetworkPolicy") >= 1


def test_efs_is_usable_from_the_cluster(graph: Graph) -> None:
    classes = {c.props["metadata"]["name"]: c.props for c in graph.of_type("kubernetes:storage.k8s.io/v1:StorageClass")}
    efs = graph.of_type("aws:efs/fileSystem:FileSystem")[0]
    assert classes["efs"]["provisioner"] == "efs.csi.aws.com"
    assert classes["efs"]["parameters"]["fileSystemId"] == efs.id
    assert classes["gp3"]["parameters"] == {"type": "gp3", "encrypted": "true"}
    trust = json.loads(graph.named("aws:iam/role:Role", "cluster-aws-efs-csi-driver").props["assumeRolePolicy"])
    assert next(iter(trust["Statement"][0]["Condition"]["StringLike"].values())) == \
        "system:serviceaccount:kube-system:efs-csi-*"


def test_cluster_settings_refuse_world_wide_allow_lists() -> None:
    assert ClusterSettings.__dataclass_fields__["deployer_cidrs"]
    config = copy.deepcopy(read_stack_config(stack_file("dev")))
    config["sensorhub:cluster"]["deployerCidrs"] = ["0.0.0.0/0"]
    with pytest.raises(SettingsError, match="would open the Kubernetes API"):
        run_program("dev", config)


def test_unused_named_helper_is_exercised() -> None:
    assert named("a", "b")(recorded("dev").resources[0]) is False
