"""Every policy rule, made to fail and made to pass; and the pack over every stack's recorded graph."""

from __future__ import annotations

import json
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

from infra.offline import STACKS
from infra.policy.offline import evaluate
from infra.policy.rules import RULES, Rule
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
EKS_OK = {"endpointPrivateAccess": True, "endpointPublicAccess": False, "enabledClusterLogTypes":
          ["api", "audit", "authenticator", "controllerManager", "scheduler"], "encryptionConfigKeyArn": "k",
          "authenticationMode": "API", "createOidcProvider": True, "skipDefaultNodeGroup": True,
          "upgradePolicy": {"supportType": "STANDARD"}, "deletionProtection": True, "tags": TAGS}
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


def _eks(**change: Any) -> Case:
    return Case("eks:index:Cluster", {**EKS_OK, **change}, EKS_OK, provider=(None, None))


def _redis(**change: Any) -> Case:
    return Case("aws:elasticache/replicationGroup:ReplicationGroup", {**REDIS_OK, **change}, REDIS_OK)


K8S_PROVIDER = PolicyProviderResource("pulumi:providers:kubernetes", {},
                                      "urn:pulumi:prod::sensorhub::pulumi:providers:kubernetes::cluster-k8s", "k8s")
DEFAULT_K8S = PolicyProviderResource("pulumi:providers:kubernetes", {},
                                     "urn:pulumi:prod::sensorhub::pulumi:providers:kubernetes::default_4_34_2", "d")

RESOURCE_CASES: dict[str, Case] = {
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
    "eks-endpoint-private-in-prod": _eks(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"]),
    "eks-control-plane-logs": _eks(enabledClusterLogTypes=["api"]),
    "eks-secrets-encryption": _eks(encryptionConfigKeyArn=None),
    "eks-api-authentication": _eks(authenticationMode="CONFIG_MAP"),
    "eks-no-default-node-group": _eks(skipDefaultNodeGroup=False),
    "eks-standard-support-and-protection": _eks(upgradePolicy={"supportType": "EXTENDED"}),
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


def _bucket_graph(*companions: tuple[str, dict[str, Any]]) -> list[PolicyResource]:
    bucket = PolicyResource("aws:s3/bucket:Bucket", {}, "urn:bucket", "archive", _opts(), None, None, [], {})
    resources = [bucket]
    for i, (type_, props) in enumerate(companions):
        resources.append(PolicyResource(type_, {"bucket": "archive-id", **props}, f"urn:c{i}", f"c{i}", _opts(),
                                        None, None, [bucket], {"bucket": [bucket]}))
    return resources


VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
STACK_CASES: dict[str, tuple[list[PolicyResource], list[PolicyResource]]] = {
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
    case = RESOURCE_CASES[rule.name]
    assert _run_resource_rule(rule, case, 0), f"{rule.name} did not flag the bad resource"
    assert _run_resource_rule(rule, case, 1) == []


@pytest.mark.parametrize("rule", [r for r in RULES if r.kind == "stack"], ids=lambda r: r.name)
def test_stack_rule_fails_then_passes(rule: Rule) -> None:
    bad, good = STACK_CASES[rule.name]
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
