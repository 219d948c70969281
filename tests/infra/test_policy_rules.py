"""Every policy rule, made to fail and made to pass; and the pack over every stack's recorded graph."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from infra.offline.mocks import STACKS, Graph, Resource
from infra.policy.components import CHILDREN, MODELLED, as_engine_sees_it
from infra.policy.offline import evaluate, stack_args
from infra.policy.rules import MULTI_LANGUAGE_COMPONENTS, RULES, Rule, RuleOnComponentError, resource_rule
from tests.infra.conftest import recorded

PROVIDER_URN = "urn:pulumi:prod::sensorhub::pulumi:providers:aws::aws"
TAGS = {"project": "sensorhub", "stack": "prod", "environment": "prod", "owner": "o", "cost-centre": "c"}


def _opts(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=protect, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def _provider(tags: dict[str, str] | None = None, urn: str = PROVIDER_URN) -> PolicyProviderResource:
    return PolicyProviderResource(resource_type="pulumi:providers:aws",
                                  props={"defaultTags": json.dumps({"tags": tags or TAGS})}, urn=urn, name="aws")


@dataclass(frozen=True)
class Case:
    """A resource (or, for stack rules, a list of resources) that breaks the rule, and one that keeps it."""

    type: str
    bad: dict[str, Any]
    good: dict[str, Any]
    protect: tuple[bool, bool] = (False, False)
    provider: tuple[PolicyProviderResource | None, PolicyProviderResource | None] = field(
        default_factory=lambda: (_provider(), _provider()))


RDS_OK = {"storageEncrypted": True, "kmsKeyId": "k", "backupRetentionPeriod": 21.0, "publiclyAccessible": False,
          "multiAz": True, "monitoringInterval": 30.0, "deletionProtection": True, "skipFinalSnapshot": False,
          "finalSnapshotIdentifier": "final", "manageMasterUserPassword": True,
          "iamDatabaseAuthenticationEnabled": True, "performanceInsightsEnabled": True,
          "performanceInsightsKmsKeyId": "k"}
REDIS_OK = {"atRestEncryptionEnabled": True, "kmsKeyId": "k", "transitEncryptionEnabled": True,
            "authToken": "t", "numCacheClusters": 2.0, "automaticFailoverEnabled": True, "multiAzEnabled": True,
            "snapshotRetentionLimit": 7.0}
CONTAINER_OK = {"name": "c", "image": "repo@sha256:abc", "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                                       "limits": {"cpu": "1", "memory": "1Gi"}},
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001.0, "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                "livenessProbe": {"httpGet": {"path": "/health/live"}},
                "readinessProbe": {"httpGet": {"path": "/health/ready"}}}


def _deployment(**container: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{**CONTAINER_OK, **container}]}}}}


def _rds(**change: Any) -> Case:
    return Case("aws:rds/instance:Instance", {**RDS_OK, **change}, RDS_OK)


def _eks_component(**change: Any) -> Resource:
    """The prod stack's recorded ``eks:index:Cluster`` with some inputs changed (the defective variant)."""
    component = recorded("prod").of_type("eks:index:Cluster")[0]
    return dataclasses.replace(component, inputs={**component.inputs, **change})


def _eks_child(component: Resource, type_: str, name_suffix: str) -> dict[str, Any]:
    """What the analyzer receives for one child the pinned pulumi-eks creates for this component."""
    return next(c.props for c in CHILDREN[component.type](component)
                if c.type == type_ and c.name.endswith(name_suffix))


def _eks(**change: Any) -> Callable[[], Case]:
    """A case on the ``aws:eks/cluster:Cluster`` child: the real component's child vs. the changed one's."""

    def case() -> Case:
        type_ = "aws:eks/cluster:Cluster"
        return Case(type_, _eks_child(_eks_component(**change), type_, "-eksCluster"),
                    _eks_child(_eks_component(), type_, "-eksCluster"))

    return case


def _vpc_cni(**change: Any) -> Callable[[], Case]:
    def case() -> Case:
        type_ = "aws:eks/addon:Addon"
        return Case(type_, _eks_child(_eks_component(**change), type_, "-vpc-cni"),
                    _eks_child(_eks_component(), type_, "-vpc-cni"))

    return case


def _redis(**change: Any) -> Case:
    return Case("aws:elasticache/replicationGroup:ReplicationGroup", {**REDIS_OK, **change}, REDIS_OK)


K8S_PROVIDER = PolicyProviderResource("pulumi:providers:kubernetes", {},
                                      "urn:pulumi:prod::sensorhub::pulumi:providers:kubernetes::cluster-k8s", "k8s")
DEFAULT_K8S = PolicyProviderResource("pulumi:providers:kubernetes", {},
                                     "urn:pulumi:prod::sensorhub::pulumi:providers:kubernetes::default_4_34_2", "d")

RESOURCE_CASES: dict[str, Case | Callable[[], Case]] = {
    "rds-storage-encrypted": _rds(storageEncrypted=False),
    "rds-backups": _rds(backupRetentionPeriod=3.0),
    "rds-no-public-access": _rds(publiclyAccessible=True),
    "rds-multi-az-in-prod": _rds(multiAz=False),
    "rds-protected-in-prod": _rds(deletionProtection=False),
    "rds-managed-credentials": _rds(manageMasterUserPassword=False, password="hunter2"),
    "rds-performance-insights": _rds(performanceInsightsEnabled=False),
    "rds-parameter-group-force-ssl": Case(
        "aws:rds/parameterGroup:ParameterGroup",
        {"family": "postgres17", "parameters": [{"name": "rds.force_ssl", "value": "0"}]},
        {"family": "postgres17", "parameters": [{"name": "rds.force_ssl", "value": "1"}]}),
    "efs-encrypted": Case("aws:efs/fileSystem:FileSystem", {"encrypted": False}, {"encrypted": True, "kmsKeyId": "k"}),
    "ebs-encrypted": Case("aws:ebs/volume:Volume", {"encrypted": False}, {"encrypted": True}),
    "kms-key-rotation": Case("aws:kms/key:Key", {"enableKeyRotation": False}, {"enableKeyRotation": True}),
    "s3-public-access-block-all": Case(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {"blockPublicAcls": True, "blockPublicPolicy": False, "ignorePublicAcls": True, "restrictPublicBuckets": True},
        {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}),
    "s3-no-acls": Case("aws:s3/bucketOwnershipControls:BucketOwnershipControls",
                       {"rule": {"objectOwnership": "ObjectWriter"}},
                       {"rule": {"objectOwnership": "BucketOwnerEnforced"}}),
    "no-world-ingress": Case(
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]}]},
        {"ingress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]},
                     {"protocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0, "securityGroups": ["sg-1"]}]}),
    "default-security-group-closed": Case("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                                          {"ingress": [{"self": True}], "egress": []}, {"ingress": [], "egress": []}),
    "subnets-no-public-ip": Case("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True},
                                 {"mapPublicIpOnLaunch": False}),
    "eks-endpoint-allow-listed": _eks(publicAccessCidrs=["198.51.100.10/32", "203.0.0.0/16"]),
    "eks-control-plane-logs": _eks(enabledClusterLogTypes=["api"]),
    "eks-secrets-encryption": _eks(encryptionConfigKeyArn=None),
    "eks-api-authentication": _eks(authenticationMode="CONFIG_MAP"),
    "eks-standard-support-and-protection": _eks(upgradePolicy={"supportType": "EXTENDED"}),
    "eks-network-policy-enforced": _vpc_cni(vpcCniOptions={}),
    "elasticache-encryption": _redis(transitEncryptionEnabled=False),
    "elasticache-multi-az-in-prod": _redis(numCacheClusters=1.0, automaticFailoverEnabled=False),
    "log-groups-retained-and-encrypted": Case("aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 0.0},
                                              {"retentionInDays": 30.0, "kmsKeyId": "k"}),
    "ecr-immutable-and-scanned": Case(
        "aws:ecr/repository:Repository", {"imageTagMutability": "MUTABLE"},
        {"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": True}}),
    "sns-encrypted": Case("aws:sns/topic:Topic", {}, {"kmsMasterKeyId": "k"}),
    "secrets-manager-kms": Case("aws:secretsmanager/secret:Secret", {}, {"kmsKeyId": "k"}),
    "stateful-protected-in-prod": Case("aws:efs/fileSystem:FileSystem", {}, {}, protect=(False, True)),
    "aws-default-tags": Case("aws:sns/topic:Topic", {}, {},
                             provider=(_provider({"project": "sensorhub", "environment": "prod"}), _provider())),
    "kubernetes-explicit-provider": Case("kubernetes:core/v1:ConfigMap", {}, {},
                                         provider=(DEFAULT_K8S, K8S_PROVIDER)),
    "kubernetes-images-by-digest": Case("kubernetes:apps/v1:Deployment", _deployment(image="repo:latest"),
                                        _deployment(), provider=(K8S_PROVIDER, K8S_PROVIDER)),
    "kubernetes-non-root": Case("kubernetes:batch/v1:Job", _deployment(securityContext={"runAsUser": 0.0}),
                                _deployment(), provider=(K8S_PROVIDER, K8S_PROVIDER)),
    "kubernetes-resource-limits": Case("kubernetes:apps/v1:Deployment",
                                       _deployment(resources={"requests": {"cpu": "1"}}), _deployment(),
                                       provider=(K8S_PROVIDER, K8S_PROVIDER)),
    "kubernetes-probes": Case("kubernetes:apps/v1:Deployment", _deployment(livenessProbe=None), _deployment(),
                              provider=(K8S_PROVIDER, K8S_PROVIDER)),
}


def _engine_view(*components: Resource) -> list[PolicyResource]:
    graph = Graph(stack="prod", resources=[recorded("prod").of_type("pulumi:providers:aws")[0], *components])
    return stack_args(as_engine_sees_it(graph)).resources


def _eks_stack_case() -> tuple[list[PolicyResource], list[PolicyResource]]:
    node_group = recorded("prod").of_type("eks:index:ManagedNodeGroup")[0]
    return (_engine_view(_eks_component(createOidcProvider=False)),
            _engine_view(_eks_component(), node_group))


def _bucket_graph(*companions: tuple[str, dict[str, Any]]) -> list[PolicyResource]:
    bucket = PolicyResource("aws:s3/bucket:Bucket", {}, "urn:bucket", "archive", _opts(), None, None, [], {})
    resources = [bucket]
    for i, (type_, props) in enumerate(companions):
        resources.append(PolicyResource(type_, {"bucket": "archive-id", **props}, f"urn:c{i}", f"c{i}", _opts(),
                                        None, None, [bucket], {"bucket": [bucket]}))
    return resources


VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
StackCase = tuple[list[PolicyResource], list[PolicyResource]]
STACK_CASES: dict[str, StackCase | Callable[[], StackCase]] = {
    "eks-irsa-and-managed-nodes": _eks_stack_case,
    "s3-bucket-public-access-blocked": (
        _bucket_graph(), _bucket_graph(("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {}))),
    "s3-bucket-sse-kms": (
        _bucket_graph((SSE, {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]})),
        _bucket_graph((SSE, {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}))),
    "s3-bucket-versioning": (
        _bucket_graph((VERSIONING, {"versioningConfiguration": {"status": "Suspended"}})),
        _bucket_graph((VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}))),
    "s3-bucket-lifecycle": (
        _bucket_graph(),
        _bucket_graph(("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                       {"rules": [{"status": "Enabled"}]}))),
    "s3-bucket-tls-only": (
        _bucket_graph(("aws:s3/bucketPolicy:BucketPolicy", {"policy": "{}"})),
        _bucket_graph(("aws:s3/bucketPolicy:BucketPolicy", {"policy": '{"aws:SecureTransport": "false"}'}))),
    "vpc-flow-logs": (
        [PolicyResource("aws:ec2/vpc:Vpc", {}, "urn:vpc", "vpc", _opts(), None, None, [], {})],
        [vpc := PolicyResource("aws:ec2/vpc:Vpc", {}, "urn:vpc", "vpc", _opts(), None, None, [], {}),
         PolicyResource("aws:ec2/flowLog:FlowLog", {}, "urn:fl", "fl", _opts(), None, None, [vpc], {"vpcId": [vpc]})]),
}


def _run_resource_rule(rule: Rule, case: Case, which: int) -> list[str]:
    messages: list[str] = []
    props = case.bad if which == 0 else case.good
    args = ResourceValidationArgs(resource_type=case.type, props=props, urn="urn:x", name="x",
                                  opts=_opts(case.protect[which]), provider=case.provider[which])
    rule.check(args, lambda message, urn=None: messages.append(message))
    return messages


def _run_stack_rule(rule: Rule, resources: list[PolicyResource]) -> list[str]:
    messages: list[str] = []
    rule.check(StackValidationArgs(resources=resources), lambda message, urn=None: messages.append(message))
    return messages


def test_the_pack_has_at_least_25_rules_each_with_a_case() -> None:
    names = [r.name for r in RULES]
    assert len(names) >= 25 and len(set(names)) == len(names)
    assert set(names) == set(RESOURCE_CASES) | set(STACK_CASES)


@pytest.mark.parametrize("rule", [r for r in RULES if r.kind == "resource"], ids=lambda r: r.name)
def test_resource_rule_fails_then_passes(rule: Rule) -> None:
    entry = RESOURCE_CASES[rule.name]
    case = entry() if callable(entry) else entry
    assert _run_resource_rule(rule, case, 0), f"{rule.name} did not flag the bad resource"
    assert _run_resource_rule(rule, case, 1) == []


@pytest.mark.parametrize("rule", [r for r in RULES if r.kind == "stack"], ids=lambda r: r.name)
def test_stack_rule_fails_then_passes(rule: Rule) -> None:
    entry = STACK_CASES[rule.name]
    bad, good = entry() if callable(entry) else entry
    assert _run_stack_rule(rule, bad), f"{rule.name} did not flag the bad stack"
    assert _run_stack_rule(rule, good) == []


def test_prod_only_rules_leave_dev_alone() -> None:
    dev = _provider({**TAGS, "environment": "dev"})
    rule = next(r for r in RULES if r.name == "rds-multi-az-in-prod")
    messages: list[str] = []
    args = ResourceValidationArgs("aws:rds/instance:Instance", {**RDS_OK, "multiAz": False}, "urn:x", "x",
                                  _opts(), dev)
    rule.check(args, lambda message, urn=None: messages.append(message))
    assert messages == []


@pytest.mark.parametrize("stack", STACKS)
def test_pack_over_the_recorded_graph_has_no_mandatory_violation(stack: str) -> None:
    violations = [v for v in evaluate(recorded(stack)) if v.enforcement == "mandatory"]
    assert violations == [], "\n".join(map(str, violations))


def test_prod_rules_really_see_prod() -> None:
    """Guard against a rule silently reading the wrong environment: break prod, expect the pack to notice."""
    graph = recorded("prod")
    rds = graph.of_type("aws:rds/instance:Instance")[0]
    broken = type(rds)(**{**rds.__dict__, "inputs": {**rds.inputs, "multiAz": False}, "protect": False})
    graph_copy = type(graph)(stack="prod", resources=[broken if r is rds else r for r in graph.resources])
    names = {v.rule for v in evaluate(graph_copy)}
    assert {"rds-multi-az-in-prod", "stateful-protected-in-prod"} <= names


def test_policy_pack_server_is_only_constructed_in_main() -> None:
    policy_dir = Path(__file__).resolve().parents[2] / "infra" / "policy"
    constructing = [p.name for p in policy_dir.glob("*.py") if "PolicyPack(" in p.read_text()]
    assert constructing == ["__main__.py"]


# ----------------------------------------------------------------------------- rules see what the engine sends


def test_a_rule_on_a_multi_language_component_is_an_error() -> None:
    """The defect of review row 2: rules that read eks:index:Cluster inputs the analyzer never receives."""
    registry: list[Rule] = []
    with pytest.raises(RuleOnComponentError, match="empty properties"):

        @resource_rule("eks-endpoint-private-in-prod", "the old rule", "eks:index:Cluster", registry=registry)
        def _old(args: ResourceValidationArgs, report: Any) -> None:  # pragma: no cover - never registered
            pass

    assert registry == []
    assert not any(set(r.types) & MULTI_LANGUAGE_COMPONENTS for r in RULES)


@pytest.mark.parametrize("stack", STACKS)
def test_every_multi_language_component_is_modelled_and_seen_empty(stack: str) -> None:
    graph = recorded(stack)
    components = {r.type for r in graph if r.type.split(":")[0] == "eks"}
    assert components and components <= MODELLED <= MULTI_LANGUAGE_COMPONENTS
    seen = as_engine_sees_it(graph)
    assert all(r.inputs == {} for r in seen if r.type in MODELLED)
    cluster = seen.of_type("aws:eks/cluster:Cluster")
    assert len(cluster) == 1 and cluster[0].props["vpcConfig"]["endpointPrivateAccess"] is True
    assert len(seen.of_type("aws:eks/nodeGroup:NodeGroup")) == len(graph.of_type("eks:index:ManagedNodeGroup"))


@pytest.mark.parametrize("stack", STACKS)
def test_the_old_eks_rule_fails_every_stack_as_the_engine_runs_it(stack: str) -> None:
    """The reviewed rule, verbatim in substance, run on what the analyzer receives: a mandatory violation on
    every stack (so `pulumi preview --policy-pack` failed everywhere), while the mocks' view passed it."""

    def old_rule(args: ResourceValidationArgs, report: Any) -> None:
        if args.resource_type == "eks:index:Cluster" and not args.props.get("endpointPrivateAccess"):
            report("the EKS endpoint must be reachable privately (endpointPrivateAccess: true).")

    rule = Rule("eks-endpoint-private-in-prod", "the old rule", "resource", old_rule)
    assert [v.rule for v in evaluate(recorded(stack), [rule])] == ["eks-endpoint-private-in-prod"]
    assert recorded(stack).of_type("eks:index:Cluster")[0].props["endpointPrivateAccess"] is True  # mocks' view
