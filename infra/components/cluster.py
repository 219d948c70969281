"""EKS: the control plane (pulumi_eks.Cluster), managed node groups, CSI add-ons and the k8s provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from infra.iam import irsa_role, service_trust
from infra.settings import ClusterSettings

CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
NODE_POLICIES = [
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
]


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
    """An EKS cluster with API authentication, IRSA, KMS-encrypted secrets and no default node group."""

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

        public_endpoint = bool(s.public_access_cidrs)
        self.eks = eks.Cluster(
            name,
            name=args.cluster_name,
            version=s.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=public_endpoint,
            public_access_cidrs=list(s.public_access_cidrs) if public_endpoint else None,
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

        self._addons(name, args, child)

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

    def _addons(self, name: str, args: ClusterArgs, child: pulumi.ResourceOptions) -> None:
        csi = {
            "aws-ebs-csi-driver": ("ebs-csi-controller-sa",
                                   "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"),
            "aws-efs-csi-driver": ("efs-csi-controller-sa",
                                   "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"),
        }
        for addon, (service_account, policy_arn) in csi.items():
            role = irsa_role(
                f"{name}-{addon}",
                oidc_provider_arn=self.oidc_provider_arn,
                oidc_provider_url=self.oidc_provider_url,
                namespace="kube-system",
                service_account=service_account,
                managed_policy_arns=[policy_arn],
                opts=child,
            )
            aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=self.name,
                addon_name=addon,
                service_account_role_arn=role.arn,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.eks, *self.node_groups]),
            )
