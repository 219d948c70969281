"""EKS: the control plane (pulumi_eks.Cluster), managed node groups, AWS-managed add-ons and the k8s provider."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s
import yaml

from infra.components.iam import irsa_role, service_trust
from infra.stack_config import PROJECT, Section

CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
NODE_POLICIES = [
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
]
SUPPORT_CALENDAR = Path(__file__).resolve().parents[1] / "data" / "eks-support-calendar.yaml"
# AWS-managed add-ons: (service account the IRSA role trusts, AWS-managed policy). metrics-server needs no AWS access.
# The EFS driver's controller *and* node daemonset (efs-csi-node-sa) call AWS, hence the efs-csi-* family.
ADDONS: dict[str, tuple[str, str] | None] = {
    "aws-ebs-csi-driver": ("ebs-csi-controller-sa", "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"),
    "aws-efs-csi-driver": ("efs-csi-*", "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"),
    "metrics-server": None,  # the HPA's resource metrics
}
CapacityType = Literal["ON_DEMAND", "SPOT"]
Arch = Literal["arm64", "x86_64"]


def support_calendar() -> dict[str, dict[str, datetime.date]]:
    """``{"1.35": {"released": date, "end_of_standard_support": date, ...}}`` from the recorded calendar."""
    return cast(dict[str, dict[str, datetime.date]], yaml.safe_load(SUPPORT_CALENDAR.read_text())["versions"])


@dataclass(frozen=True)
class NodeGroupSettings:
    name: str
    instance_types: tuple[str, ...]
    capacity_type: CapacityType
    arch: Arch
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gb: int

    @classmethod
    def read(cls, section: Section) -> NodeGroupSettings:
        group = cls(
            name=section.string("name"),
            instance_types=section.strings("instanceTypes", allow_empty=False),
            capacity_type=cast(CapacityType, section.choice("capacityType", ["ON_DEMAND", "SPOT"])),
            arch=cast(Arch, section.choice("arch", ["arm64", "x86_64"])),
            min_size=section.integer("minSize", 0, 100),
            desired_size=section.integer("desiredSize", 0, 100),
            max_size=section.integer("maxSize", 1, 100),
            disk_size_gb=section.integer("diskSizeGb", 20, 1000),
        )
        section.done()
        if not group.min_size <= group.desired_size <= group.max_size:
            section.fail(
                f"must satisfy minSize <= desiredSize <= maxSize, got {group.min_size} <= "
                f"{group.desired_size} <= {group.max_size}"
            )
        return group


@dataclass(frozen=True)
class ClusterSettings:
    kubernetes_version: str
    # Who may reach the API endpoint from outside the VPC: people (dev/staging only) and the deploy runners.
    public_access_cidrs: tuple[str, ...]
    deployer_cidrs: tuple[str, ...]
    admin_role_arn: str
    node_groups: tuple[NodeGroupSettings, ...]

    @classmethod
    def read(cls, section: Section, today: datetime.date) -> ClusterSettings:
        settings = cls(
            kubernetes_version=section.string("kubernetesVersion"),
            public_access_cidrs=section.strings("publicAccessCidrs", allow_empty=True),
            deployer_cidrs=section.strings("deployerCidrs", allow_empty=False),
            admin_role_arn=section.string("adminRoleArn"),
            node_groups=tuple(NodeGroupSettings.read(s) for s in section.sections("nodeGroups")),
        )
        section.done()
        for key, cidrs in (("publicAccessCidrs", settings.public_access_cidrs),
                           ("deployerCidrs", settings.deployer_cidrs)):
            for cidr in cidrs:
                try:
                    network = ipaddress.ip_network(cidr, strict=True)
                except ValueError as exc:
                    section.fail(f"must list CIDR blocks such as 198.51.100.10/32, got {cidr!r} ({exc})", key)
                if network.prefixlen < 16:
                    section.fail(f"must be an allow-list of narrow ranges; {cidr} would open the Kubernetes API "
                                 "to a large part of the internet", key)
        if not settings.admin_role_arn.startswith("arn:aws:iam::"):
            section.fail(f"must be an IAM role ARN, got {settings.admin_role_arn!r}", "adminRoleArn")
        calendar = support_calendar()
        version = calendar.get(settings.kubernetes_version)
        if version is None:
            section.fail(f"must be a version in infra/data/eks-support-calendar.yaml ({', '.join(calendar)}), "
                         f"got {settings.kubernetes_version!r}", "kubernetesVersion")
        if version["end_of_standard_support"] <= today:
            newest = max(calendar, key=lambda v: calendar[v]["released"])
            section.fail(f"{settings.kubernetes_version} left EKS standard support on "
                         f"{version['end_of_standard_support']}: CreateCluster is refused or billed as extended "
                         f"support; use {newest}", "kubernetesVersion")
        return settings

    @property
    def endpoint_cidrs(self) -> list[str]:
        return sorted(set(self.public_access_cidrs) | set(self.deployer_cidrs))

    def prod_problems(self) -> list[str]:
        problems = []
        if self.public_access_cidrs:
            problems.append(f"{PROJECT}:cluster.publicAccessCidrs must be empty in prod (people reach the prod API "
                            "through the deploy runner, not from the office)")
        if any(ipaddress.ip_network(c).num_addresses > 256 for c in self.deployer_cidrs):
            problems.append(f"{PROJECT}:cluster.deployerCidrs must be the deploy runners' egress addresses "
                            "(/24 or narrower) in prod")
        if not any(g.capacity_type == "ON_DEMAND" for g in self.node_groups):
            problems.append(f"{PROJECT}:cluster.nodeGroups needs at least one ON_DEMAND group in prod")
        if any(g.min_size < 2 for g in self.node_groups if g.capacity_type == "ON_DEMAND"):
            problems.append(f"{PROJECT}:cluster.nodeGroups[*].minSize must be >= 2 in prod (nodes in >= 2 AZs)")
        return problems


@dataclass(frozen=True)
class ClusterArgs:
    cluster_name: str
    settings: ClusterSettings
    vpc_id: pulumi.Input[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    secrets_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    log_retention_days: int
    deletion_protection: bool
    tags: dict[str, str]


class Cluster(pulumi.ComponentResource):
    """An EKS cluster with API authentication, IRSA, KMS-encrypted secrets and no default node group.

    The API endpoint is private for the nodes and public only to an allow-list that always holds the deploy
    runners (``deployerCidrs``): the same ``pulumi up`` applies Helm releases and Kubernetes objects.
    """

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings

        # Created before the cluster so retention and encryption are ours, not EKS's defaults.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        # Managed node groups get their EKS access entry from EKS itself (authentication mode API).
        node_role = aws.iam.Role(f"{name}-nodes", assume_role_policy=service_trust("ec2.amazonaws.com"), opts=child)
        for i, policy_arn in enumerate(NODE_POLICIES):
            aws.iam.RolePolicyAttachment(f"{name}-nodes-{i}", role=node_role.name, policy_arn=policy_arn, opts=child)

        self.eks = eks.Cluster(
            name,
            name=args.cluster_name,
            version=s.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=True,
            public_access_cidrs=s.endpoint_cidrs,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries={
                "platform-admins": eks.AccessEntryArgs(
                    principal_arn=s.admin_role_arn,
                    access_policies={
                        "cluster-admin": eks.AccessPolicyAssociationArgs(
                            policy_arn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                        )
                    },
                )
            },
            create_oidc_provider=True,
            enabled_cluster_log_types=CONTROL_PLANE_LOG_TYPES,
            encryption_config_key_arn=args.secrets_key_arn,
            skip_default_node_group=True,
            # Managed nodes then use the EKS-created cluster security group, which the data stores admit.
            skip_default_security_groups=True,
            # NetworkPolicy objects are only enforced when the VPC CNI's network policy agent is on.
            vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=args.deletion_protection,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )

        self.node_groups: list[eks.ManagedNodeGroup] = []
        for group in s.node_groups:
            self.node_groups.append(
                eks.ManagedNodeGroup(
                    f"{name}-{group.name}",
                    cluster=self.eks,
                    node_group_name_prefix=f"{args.cluster_name}-{group.name}-",
                    node_role=node_role,
                    subnet_ids=args.private_subnet_ids,
                    instance_types=list(group.instance_types),
                    capacity_type=group.capacity_type,
                    ami_type="AL2023_ARM_64_STANDARD" if group.arch == "arm64" else "AL2023_x86_64_STANDARD",
                    disk_size=group.disk_size_gb,
                    scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                        min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size
                    ),
                    labels={"sensorhub.io/node-group": group.name},
                    opts=child,
                )
            )

        self.name = args.cluster_name
        self.kubeconfig_json = self.eks.kubeconfig_json
        self.oidc_provider_arn = self.eks.oidc_provider_arn
        self.oidc_provider_url = self.eks.oidc_provider_url
        self.cluster_security_group_id = self.eks.cluster_security_group_id

        self.addons = self._addons(name, s.kubernetes_version, child)

        # Every Kubernetes resource of the program goes through this provider: never the ambient kubeconfig.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(self.kubeconfig_json),
            enable_server_side_apply=True,
            delete_unreachable=False,
            opts=child,
        )
        self.register_outputs(
            {
                "clusterName": self.name,
                "kubeconfig": pulumi.Output.secret(self.kubeconfig_json),
                "oidcProviderArn": self.oidc_provider_arn,
                "clusterSecurityGroupId": self.cluster_security_group_id,
            }
        )

    def _addons(self, name: str, kubernetes_version: str, child: pulumi.ResourceOptions) -> dict[str, aws.eks.Addon]:
        """AWS-managed add-ons at AWS's default version for the cluster's Kubernetes version.

        The default moves only when the Kubernetes version does, so an add-on upgrade is a reviewed change
        (a version bump in the stack file) rather than whatever AWS published last night.
        """
        addons: dict[str, aws.eks.Addon] = {}
        for addon, access in ADDONS.items():
            extra: dict[str, Any] = {}
            if access is not None:
                service_account, policy_arn = access
                extra["service_account_role_arn"] = irsa_role(
                    f"{name}-{addon}",
                    oidc_provider_arn=self.oidc_provider_arn,
                    oidc_provider_url=self.oidc_provider_url,
                    namespace="kube-system",
                    service_account=service_account,
                    managed_policy_arns=(policy_arn,),
                    opts=child,
                ).arn
            version = aws.eks.get_addon_version_output(
                addon_name=addon, kubernetes_version=kubernetes_version, most_recent=False,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            addons[addon] = aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=self.name,
                addon_name=addon,
                addon_version=version.version,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.eks, *self.node_groups]),
                **extra,
            )
        return addons
