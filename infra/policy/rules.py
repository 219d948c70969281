"""The sensorhub policy rules, importable without starting a policy server.

``__main__.py`` wraps them in a ``pulumi_policy.PolicyPack`` for ``pulumi preview --policy-pack``;
``infra.policy.offline`` runs the very same functions over a recorded graph.

Rules see what the engine sends: camelCase property names, numbers as floats. A rule that needs
the environment reads it from the resource's AWS provider default tags (``environment``).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# pulumi_policy's ReportViolation wants (message, urn); rules pass the urn only when it adds something.
Report = Callable[..., None]
ResourceCheck = Callable[[ResourceValidationArgs, Report], None]
StackCheck = Callable[[StackValidationArgs, Report], None]

WORLD = ("0.0.0.0/0", "::/0")
CONTROL_PLANE_LOG_TYPES = {"api", "audit", "authenticator", "controllerManager", "scheduler"}
REQUIRED_TAGS = ("project", "stack", "owner", "cost-centre")
POD_KINDS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
STATEFUL_TYPES = (
    "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:efs/fileSystem:FileSystem",
    "aws:s3/bucket:Bucket",
)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    kind: Literal["resource", "stack"]
    check: Callable[..., None]
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY
    types: tuple[str, ...] = ()

    def to_policy(self) -> ResourceValidationPolicy | StackValidationPolicy:
        if self.kind == "resource":
            return ResourceValidationPolicy(name=self.name, description=self.description, validate=self.check,
                                            enforcement_level=self.enforcement)
        return StackValidationPolicy(name=self.name, description=self.description, validate=self.check,
                                     enforcement_level=self.enforcement)


RULES: list[Rule] = []
# Multi-language components (pulumi_eks): the analyzer sees them with empty properties, so a rule on them would
# report on nothing or on everything. Rules target their children (infra/policy/components.py models them).
MULTI_LANGUAGE_COMPONENTS = frozenset({"eks:index:Cluster", "eks:index:ManagedNodeGroup", "eks:index:NodeGroup",
                                       "eks:index:NodeGroupV2", "eks:index:VpcCniAddon", "eks:index:Addon"})


class RuleOnComponentError(TypeError):
    """A rule was written against a multi-language component's properties, which the analyzer never sees."""


def resource_rule(name: str, description: str, *types: str,
                  registry: list[Rule] | None = None) -> Callable[[ResourceCheck], ResourceCheck]:
    """Register a rule that runs on resources of the given types (any type when none are given)."""
    on_components = sorted(set(types) & MULTI_LANGUAGE_COMPONENTS)
    if on_components:
        raise RuleOnComponentError(
            f"rule {name!r} targets {', '.join(on_components)}: the policy analyzer sees a multi-language "
            "component with empty properties; target its children (e.g. aws:eks/cluster:Cluster) instead"
        )

    def register(fn: ResourceCheck) -> ResourceCheck:
        def check(args: ResourceValidationArgs, report: Report) -> None:
            if not types or args.resource_type in types:
                fn(args, report)

        (RULES if registry is None else registry).append(Rule(name, description, "resource", check, types=types))
        return fn

    return register


def stack_rule(name: str, description: str) -> Callable[[StackCheck], StackCheck]:
    def register(fn: StackCheck) -> StackCheck:
        RULES.append(Rule(name, description, "stack", fn))
        return fn

    return register


def policies() -> list[Policy]:
    return [rule.to_policy() for rule in RULES]


# --------------------------------------------------------------------------- helpers


def prop(props: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return default if value is None else value


def provider_tags(provider: Any) -> Mapping[str, Any]:
    """Default tags of an AWS provider; the engine hands provider object config over as JSON text."""
    if provider is None:
        return {}
    default_tags = provider.props.get("defaultTags") or {}
    if isinstance(default_tags, str):
        default_tags = json.loads(default_tags)
    tags = default_tags.get("tags") if isinstance(default_tags, Mapping) else None
    return tags if isinstance(tags, Mapping) else {}


def environment(args: ResourceValidationArgs) -> str:
    """``environment`` from the provider's default tags, else from the resource's own tags."""
    tags = provider_tags(args.provider) or prop(args.props, "tags", default={})
    return str(tags.get("environment", "unknown")) if isinstance(tags, Mapping) else "unknown"


def is_prod(args: ResourceValidationArgs) -> bool:
    return environment(args) == "prod"


def _dependents(resources: Iterable[PolicyResource], target: PolicyResource, type_: str,
                key: str) -> list[PolicyResource]:
    """Resources of ``type_`` whose ``key`` property depends on ``target`` (e.g. a bucket's PAB)."""
    return [
        r for r in resources
        if r.resource_type == type_ and any(d.urn == target.urn for d in r.property_dependencies.get(key, []))
    ]


# --------------------------------------------------------------------------- RDS (AWSGuard ports)

RDS = "aws:rds/instance:Instance"


@resource_rule("rds-storage-encrypted", "RDS storage is encrypted with a customer-managed KMS key.", RDS)
def _rds_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if not args.props.get("storageEncrypted"):
        report("RDS storage must be encrypted (storageEncrypted: true).")
    elif not args.props.get("kmsKeyId"):
        report("RDS storage must use a customer-managed KMS key (kmsKeyId).")


@resource_rule("rds-backups", "RDS keeps backups: >= 1 day everywhere, 14..35 days in prod.", RDS)
def _rds_backups(args: ResourceValidationArgs, report: Report) -> None:
    days = float(args.props.get("backupRetentionPeriod") or 0)
    if days < 1:
        report("RDS backups must be kept at least 1 day (backupRetentionPeriod).")
    elif is_prod(args) and not 14 <= days <= 35:
        report(f"prod RDS must keep backups 14..35 days, got {days:g}.")


@resource_rule("rds-no-public-access", "RDS instances are not publicly accessible.", RDS)
def _rds_private(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("publiclyAccessible"):
        report("RDS must not be publicly accessible.")


@resource_rule("rds-multi-az-in-prod", "prod RDS is Multi-AZ with enhanced monitoring.", RDS)
def _rds_multi_az(args: ResourceValidationArgs, report: Report) -> None:
    if is_prod(args):
        if not args.props.get("multiAz"):
            report("prod RDS must be Multi-AZ (multiAz: true).")
        if not float(args.props.get("monitoringInterval") or 0):
            report("prod RDS must have enhanced monitoring (monitoringInterval > 0).")


@resource_rule("rds-protected-in-prod",
               "prod RDS has deletion protection and takes a final snapshot.", RDS)
def _rds_protected(args: ResourceValidationArgs, report: Report) -> None:
    if is_prod(args):
        if not args.props.get("deletionProtection"):
            report("prod RDS must have deletionProtection: true.")
        if args.props.get("skipFinalSnapshot", False) or not args.props.get("finalSnapshotIdentifier"):
            report("prod RDS must take a final snapshot (skipFinalSnapshot: false + finalSnapshotIdentifier).")


@resource_rule("rds-managed-credentials",
               "RDS master password is managed in Secrets Manager, IAM authentication on.", RDS)
def _rds_credentials(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("password"):
        report("RDS must not receive a master password; use manageMasterUserPassword.")
    if not args.props.get("manageMasterUserPassword"):
        report("RDS master password must be managed in Secrets Manager (manageMasterUserPassword: true).")
    if not args.props.get("iamDatabaseAuthenticationEnabled"):
        report("RDS must enable IAM database authentication.")


@resource_rule("rds-performance-insights", "RDS has Performance Insights encrypted with KMS.", RDS)
def _rds_insights(args: ResourceValidationArgs, report: Report) -> None:
    if not args.props.get("performanceInsightsEnabled") or not args.props.get("performanceInsightsKmsKeyId"):
        report("RDS must enable Performance Insights with a KMS key.")


@resource_rule("rds-parameter-group-force-ssl", "PostgreSQL parameter groups force TLS (rds.force_ssl=1).",
               "aws:rds/parameterGroup:ParameterGroup")
def _rds_force_ssl(args: ResourceValidationArgs, report: Report) -> None:
    params = {p.get("name"): str(p.get("value")) for p in args.props.get("parameters") or []}
    if str(args.props.get("family", "")).startswith("postgres") and params.get("rds.force_ssl") != "1":
        report("PostgreSQL parameter group must set rds.force_ssl=1.")


# --------------------------------------------------------------------------- storage and keys


@resource_rule("efs-encrypted", "EFS file systems are encrypted with KMS.", "aws:efs/fileSystem:FileSystem")
def _efs_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if not args.props.get("encrypted") or not args.props.get("kmsKeyId"):
        report("EFS must be encrypted with a customer-managed KMS key.")


@resource_rule("ebs-encrypted", "EBS volumes and launch-template block devices are encrypted.",
               "aws:ebs/volume:Volume", "aws:ec2/launchTemplate:LaunchTemplate")
def _ebs_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == "aws:ebs/volume:Volume":
        if not args.props.get("encrypted"):
            report("EBS volumes must be encrypted.")
        return
    for mapping in args.props.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        if str(ebs.get("encrypted", "false")).lower() != "true":
            report(f"launch template device {mapping.get('deviceName')} must be encrypted.")


@resource_rule("kms-key-rotation", "KMS keys rotate automatically.", "aws:kms/key:Key")
def _kms_rotation(args: ResourceValidationArgs, report: Report) -> None:
    if not args.props.get("enableKeyRotation"):
        report("KMS keys must have enableKeyRotation: true.")


@resource_rule("s3-public-access-block-all", "S3 public access blocks set all four flags.",
               "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def _s3_pab(args: ResourceValidationArgs, report: Report) -> None:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    missing = [f for f in flags if not args.props.get(f)]
    if missing:
        report(f"S3 public access block must set {', '.join(missing)}.")


@resource_rule("s3-no-acls", "S3 buckets are owner-enforced (no ACLs).",
               "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:s3/bucketAcl:BucketAcl")
def _s3_no_acls(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == "aws:s3/bucketAcl:BucketAcl":
        report("S3 ACLs are disabled; grant access with policies.")
    elif prop(args.props, "rule", "objectOwnership") != "BucketOwnerEnforced":
        report("S3 object ownership must be BucketOwnerEnforced.")


def _bucket_companions(name: str, type_: str, what: str,
                       ok: Callable[[PolicyResource], bool] = lambda _r: True) -> None:
    @stack_rule(name, f"Every S3 bucket has {what}.")
    def check(args: StackValidationArgs, report: Report) -> None:
        for bucket in (r for r in args.resources if r.resource_type == "aws:s3/bucket:Bucket"):
            companions = _dependents(args.resources, bucket, type_, "bucket")
            if not any(ok(c) for c in companions):
                report(f"bucket {bucket.name} has no {what}.", bucket.urn)


_bucket_companions("s3-bucket-public-access-blocked", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                   "public access block")
_bucket_companions(
    "s3-bucket-sse-kms", "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "SSE-KMS default encryption",
    lambda r: any(prop(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") == "aws:kms"
                  for rule in r.props.get("rules") or []),
)
_bucket_companions(
    "s3-bucket-versioning", "aws:s3/bucketVersioning:BucketVersioning", "versioning enabled",
    lambda r: prop(r.props, "versioningConfiguration", "status") == "Enabled",
)
_bucket_companions(
    "s3-bucket-lifecycle", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "lifecycle rule",
    lambda r: any(rule.get("status") == "Enabled" for rule in r.props.get("rules") or []),
)
_bucket_companions(
    "s3-bucket-tls-only", "aws:s3/bucketPolicy:BucketPolicy", "deny-insecure-transport policy",
    lambda r: "aws:SecureTransport" in str(r.props.get("policy", "")),
)


# --------------------------------------------------------------------------- network


def _world_ingress(rules: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        r for r in rules
        if set(r.get("cidrBlocks") or []) & set(WORLD) or set(r.get("ipv6CidrBlocks") or []) & set(WORLD)
    ]


@resource_rule("no-world-ingress",
               "No security group admits 0.0.0.0/0 except HTTPS (443) for a load balancer.",
               "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/securityGroupRule:SecurityGroupRule",
               "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
def _no_world_ingress(args: ResourceValidationArgs, report: Report) -> None:
    p = args.props
    if args.resource_type == "aws:ec2/securityGroup:SecurityGroup":
        candidates = _world_ingress(p.get("ingress") or [])
    elif args.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        candidates = _world_ingress([p]) if p.get("type") == "ingress" else []
    else:
        candidates = [p] if p.get("cidrIpv4") in WORLD or p.get("cidrIpv6") in WORLD else []
    for rule in candidates:
        ports = (float(rule.get("fromPort", -1) or 0), float(rule.get("toPort", -1) or 0))
        if ports != (443.0, 443.0):
            report(f"ingress from the internet is only allowed on 443, got ports {ports[0]:g}-{ports[1]:g}.")


@resource_rule("default-security-group-closed", "The VPC default security group has no rules.",
               "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
def _default_sg(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("ingress") or args.props.get("egress"):
        report("the default security group must have no ingress or egress rules.")


@resource_rule("subnets-no-public-ip", "Subnets do not hand out public IPs on launch.", "aws:ec2/subnet:Subnet")
def _subnet_public_ip(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("mapPublicIpOnLaunch"):
        report("subnets must not map public IPs on launch.")


@stack_rule("vpc-flow-logs", "Every VPC sends flow logs.")
def _flow_logs(args: StackValidationArgs, report: Report) -> None:
    for vpc in (r for r in args.resources if r.resource_type == "aws:ec2/vpc:Vpc"):
        if not _dependents(args.resources, vpc, "aws:ec2/flowLog:FlowLog", "vpcId"):
            report(f"VPC {vpc.name} has no flow log.", vpc.urn)


# --------------------------------------------------------------------------- EKS (the component's children)

EKS = "aws:eks/cluster:Cluster"
DEPLOYER_MAX_ADDRESSES = 256


@resource_rule("eks-endpoint-allow-listed",
               "The EKS API is private, public only to an allow-list; in prod only to the deploy runners.", EKS)
def _eks_endpoint(args: ResourceValidationArgs, report: Report) -> None:
    vpc = prop(args.props, "vpcConfig", default={})
    public = vpc.get("endpointPublicAccess", True)
    if not vpc.get("endpointPrivateAccess"):
        report("the EKS endpoint must be reachable privately (vpcConfig.endpointPrivateAccess: true).")
    cidrs = vpc.get("publicAccessCidrs") or []
    if public and (not cidrs or set(cidrs) & set(WORLD)):
        report("a public EKS endpoint needs an allow-list (vpcConfig.publicAccessCidrs without 0.0.0.0/0).")
    wide = [c for c in cidrs if c not in WORLD and ipaddress.ip_network(c).num_addresses > DEPLOYER_MAX_ADDRESSES]
    if public and is_prod(args) and wide:
        report(f"prod EKS admits only the deploy runners' addresses (/24 or narrower), got {', '.join(wide)}.")


@resource_rule("eks-control-plane-logs", "EKS sends every control-plane log type.", EKS)
def _eks_logs(args: ResourceValidationArgs, report: Report) -> None:
    missing = CONTROL_PLANE_LOG_TYPES - set(args.props.get("enabledClusterLogTypes") or [])
    if missing:
        report(f"EKS must enable control-plane logs: {', '.join(sorted(missing))}.")


@resource_rule("eks-secrets-encryption", "EKS encrypts Kubernetes secrets with KMS.", EKS)
def _eks_kms(args: ResourceValidationArgs, report: Report) -> None:
    config = prop(args.props, "encryptionConfig", default={})
    if not prop(config, "provider", "keyArn") or "secrets" not in (config.get("resources") or []):
        report("EKS must encrypt secrets with a KMS key (encryptionConfig.provider.keyArn, resources: secrets).")


@resource_rule("eks-api-authentication", "EKS uses access entries (API authentication mode).", EKS)
def _eks_auth(args: ResourceValidationArgs, report: Report) -> None:
    if prop(args.props, "accessConfig", "authenticationMode") not in ("API", "API_AND_CONFIG_MAP"):
        report("EKS must use API authentication mode (accessConfig.authenticationMode).")


@resource_rule("eks-standard-support-and-protection",
               "EKS stays on standard support; prod has deletion protection.", EKS)
def _eks_support(args: ResourceValidationArgs, report: Report) -> None:
    if prop(args.props, "upgradePolicy", "supportType") != "STANDARD":
        report("EKS must use the STANDARD upgrade policy (extended support costs extra).")
    if is_prod(args) and not args.props.get("deletionProtection"):
        report("prod EKS must have deletionProtection: true.")


@resource_rule("eks-network-policy-enforced", "The VPC CNI enforces NetworkPolicy objects.", "aws:eks/addon:Addon")
def _eks_network_policy(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("addonName") != "vpc-cni":
        return
    config = args.props.get("configurationValues") or "{}"
    if str(json.loads(config).get("enableNetworkPolicy", "false")).lower() != "true":
        report("the vpc-cni add-on must set enableNetworkPolicy: \"true\" (NetworkPolicy is not enforced otherwise).")


@stack_rule("eks-irsa-and-managed-nodes",
            "Every EKS cluster has an IAM OIDC provider (IRSA) and EKS-managed node groups, no self-managed ones.")
def _eks_nodes_and_oidc(args: StackValidationArgs, report: Report) -> None:
    types = [r.resource_type for r in args.resources]
    for cluster in (r for r in args.resources if r.resource_type == EKS):
        if "aws:iam/openIdConnectProvider:OpenIdConnectProvider" not in types:
            report(f"EKS cluster {cluster.name} has no IAM OIDC provider for IRSA.", cluster.urn)
        if "aws:eks/nodeGroup:NodeGroup" not in types:
            report(f"EKS cluster {cluster.name} has no EKS-managed node group.", cluster.urn)
        if {"aws:autoscaling/group:Group", "aws:cloudformation/stack:Stack"} & set(types):
            report(f"EKS cluster {cluster.name} has a self-managed (default) node group.", cluster.urn)


# --------------------------------------------------------------------------- cache, logs, registry, secrets

REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"


@resource_rule("elasticache-encryption", "ElastiCache encrypts at rest (KMS) and in transit, with an auth token.",
               REDIS)
def _redis_encryption(args: ResourceValidationArgs, report: Report) -> None:
    p = args.props
    if str(p.get("atRestEncryptionEnabled")).lower() != "true" or not p.get("kmsKeyId"):
        report("ElastiCache must encrypt at rest with a KMS key.")
    if not p.get("transitEncryptionEnabled"):
        report("ElastiCache must encrypt in transit.")
    if not p.get("authToken"):
        report("ElastiCache must require an auth token.")


@resource_rule("elasticache-multi-az-in-prod", "prod ElastiCache has replicas, failover and snapshots.", REDIS)
def _redis_ha(args: ResourceValidationArgs, report: Report) -> None:
    if not is_prod(args):
        return
    p = args.props
    if float(p.get("numCacheClusters") or 1) < 2 or not p.get("automaticFailoverEnabled") \
            or not p.get("multiAzEnabled"):
        report("prod ElastiCache needs >= 1 replica with Multi-AZ automatic failover.")
    if float(p.get("snapshotRetentionLimit") or 0) < 1:
        report("prod ElastiCache must keep snapshots (snapshotRetentionLimit >= 1).")


@resource_rule("log-groups-retained-and-encrypted", "CloudWatch log groups have a retention and a KMS key.",
               "aws:cloudwatch/logGroup:LogGroup")
def _log_groups(args: ResourceValidationArgs, report: Report) -> None:
    if not args.props.get("retentionInDays"):
        report("log groups must set retentionInDays (never keep logs forever by accident).")
    if not args.props.get("kmsKeyId"):
        report("log groups must be encrypted with a KMS key.")


@resource_rule("ecr-immutable-and-scanned", "ECR repositories have immutable tags and scan on push.",
               "aws:ecr/repository:Repository")
def _ecr(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("imageTagMutability") != "IMMUTABLE":
        report("ECR repositories must use immutable tags.")
    if not prop(args.props, "imageScanningConfiguration", "scanOnPush"):
        report("ECR repositories must scan on push.")


@resource_rule("sns-encrypted", "SNS topics are encrypted with KMS.", "aws:sns/topic:Topic")
def _sns(args: ResourceValidationArgs, report: Report) -> None:
    if not args.props.get("kmsMasterKeyId"):
        report("SNS topics must be encrypted (kmsMasterKeyId).")


@resource_rule("secrets-manager-kms", "Secrets Manager secrets use a customer-managed KMS key.",
               "aws:secretsmanager/secret:Secret")
def _secrets_kms(args: ResourceValidationArgs, report: Report) -> None:
    if not args.props.get("kmsKeyId"):
        report("Secrets Manager secrets must use a customer-managed KMS key.")


@resource_rule("stateful-protected-in-prod", "prod data stores are `protect`ed against `pulumi destroy`.",
               *STATEFUL_TYPES)
def _stateful_protected(args: ResourceValidationArgs, report: Report) -> None:
    if is_prod(args) and not args.opts.protect:
        report(f"prod {args.resource_type.rsplit(':', 1)[1]} must be declared with protect=True.")


@resource_rule("aws-default-tags", "AWS resources use an explicit provider with project/stack/owner/cost-centre tags.")
def _aws_tags(args: ResourceValidationArgs, report: Report) -> None:
    if not args.resource_type.startswith("aws:") or args.resource_type.startswith("pulumi:providers"):
        return
    if args.provider is None or "::default" in args.provider.urn:
        report("AWS resources must use the program's explicit AWS provider (it carries the default tags).")
        return
    tags = provider_tags(args.provider)
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
    if missing:
        report(f"the AWS provider's default tags lack {', '.join(missing)}.")


# --------------------------------------------------------------------------- Kubernetes (ours)


@resource_rule("kubernetes-explicit-provider",
               "Every Kubernetes resource uses the cluster's explicit provider, never the ambient kubeconfig.")
def _k8s_provider(args: ResourceValidationArgs, report: Report) -> None:
    if not args.resource_type.startswith("kubernetes:"):
        return
    if args.provider is None or "::default" in args.provider.urn:
        report("Kubernetes resources must set an explicit provider (opts.provider) built from the cluster.")


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = POD_KINDS.get(resource_type)
    return prop(props, *path) if path else None


def _containers(args: ResourceValidationArgs) -> list[Mapping[str, Any]]:
    spec = pod_spec(args.resource_type, args.props) or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


@resource_rule("kubernetes-images-by-digest", "Workload images are referenced by digest (@sha256:).",
               *POD_KINDS)
def _k8s_digest(args: ResourceValidationArgs, report: Report) -> None:
    for c in _containers(args):
        if "@sha256:" not in str(c.get("image", "")):
            report(f"container {c.get('name')} must reference its image by digest, got {c.get('image')!r}.")


@resource_rule("kubernetes-non-root", "Containers run as non-root, without privilege escalation, read-only root.",
               *POD_KINDS)
def _k8s_non_root(args: ResourceValidationArgs, report: Report) -> None:
    pod = prop(pod_spec(args.resource_type, args.props) or {}, "securityContext", default={})
    for c in _containers(args):
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or pod.get("runAsNonRoot")) or float(sc.get("runAsUser", 1) or 0) == 0:
            report(f"container {c.get('name')} must run as non-root (runAsNonRoot: true, runAsUser != 0).")
        if sc.get("allowPrivilegeEscalation", True) or sc.get("privileged"):
            report(f"container {c.get('name')} must set allowPrivilegeEscalation: false and not be privileged.")
        if not sc.get("readOnlyRootFilesystem"):
            report(f"container {c.get('name')} must have a read-only root filesystem.")
        if "ALL" not in (prop(sc, "capabilities", "drop", default=[]) or []):
            report(f"container {c.get('name')} must drop ALL capabilities.")


@resource_rule("kubernetes-resource-limits", "Containers declare CPU/memory requests and limits.", *POD_KINDS)
def _k8s_limits(args: ResourceValidationArgs, report: Report) -> None:
    for c in _containers(args):
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            missing = [r for r in ("cpu", "memory") if not prop(resources, kind, r)]
            if missing:
                report(f"container {c.get('name')} lacks {kind} for {', '.join(missing)}.")


@resource_rule("kubernetes-probes", "Long-running containers have liveness and readiness probes.",
               "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet")
def _k8s_probes(args: ResourceValidationArgs, report: Report) -> None:
    for c in _containers(args):
        if not c.get("livenessProbe") or not c.get("readinessProbe"):
            report(f"container {c.get('name')} needs liveness and readiness probes.")
