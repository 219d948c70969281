"""Cluster add-ons the service depends on: the AWS Load Balancer Controller and External Secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.iam import irsa_trust

# Chart versions are pinned here and bumped deliberately (a chart bump is a reviewed change).
LBC_CHART = ("aws-load-balancer-controller", "1.13.4", "https://aws.github.io/eks-charts")
ESO_CHART = ("external-secrets", "0.19.2", "https://charts.external-secrets.io")

# Condensed from the controller's published IAM policy: what it needs to manage ALBs and their SGs.
LBC_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateServiceLinkedRole"], "Resource": "*",
         "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "ec2:Describe*", "ec2:GetSecurityGroupsForVpc", "ec2:GetCoipPoolUsage",
            "elasticloadbalancing:Describe*", "acm:ListCertificates", "acm:DescribeCertificate",
            "iam:ListServerCertificates", "iam:GetServerCertificate", "cognito-idp:DescribeUserPoolClient",
            "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL",
            "waf-regional:DisassociateWebACL", "wafv2:GetWebACL", "wafv2:GetWebACLForResource",
            "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "shield:GetSubscriptionState",
            "shield:DescribeProtection", "shield:CreateProtection", "shield:DeleteProtection"]},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:CreateSecurityGroup"]},
        {"Effect": "Allow", "Action": ["ec2:CreateTags"], "Resource": "arn:aws:ec2:*:*:security-group/*",
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}},
        {"Effect": "Allow", "Action": ["ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup"],
         "Resource": "arn:aws:ec2:*:*:security-group/*",
         "Condition": {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
            "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
            "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
            "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
            "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
            "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
            "elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
            "elasticloadbalancing:ModifyRule", "elasticloadbalancing:ModifyListenerAttributes"],
         "Condition": {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}},
    ],
}


@dataclass(frozen=True)
class PlatformAddonsArgs:
    cluster_name: str
    region: str
    vpc_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    k8s_provider: k8s.Provider


class PlatformAddons(pulumi.ComponentResource):
    """Helm releases of the load balancer controller (for the Ingress) and External Secrets (for secrets)."""

    def __init__(self, name: str, args: PlatformAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:cluster:PlatformAddons", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)

        lbc_role = aws.iam.Role(
            f"{name}-lbc",
            assume_role_policy=irsa_trust(args.oidc_provider_arn, args.oidc_provider_url,
                                          "kube-system", "aws-load-balancer-controller"),
            opts=child,
        )
        aws.iam.RolePolicy(f"{name}-lbc", role=lbc_role.id, policy=json.dumps(LBC_POLICY), opts=child)
        chart, version, repo = LBC_CHART
        self.load_balancer_controller = k8s.helm.v3.Release(
            f"{name}-lbc",
            name="aws-load-balancer-controller",
            chart=chart,
            version=version,
            namespace="kube-system",
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            values={
                "clusterName": args.cluster_name,
                "region": args.region,
                "vpcId": args.vpc_id,
                "replicaCount": 2,
                "serviceAccount": {
                    "name": "aws-load-balancer-controller",
                    "annotations": {"eks.amazonaws.com/role-arn": lbc_role.arn},
                },
            },
            atomic=True,
            opts=on_cluster,
        )

        chart, version, repo = ESO_CHART
        self.external_secrets = k8s.helm.v3.Release(
            f"{name}-external-secrets",
            name="external-secrets",
            chart=chart,
            version=version,
            namespace="external-secrets",
            create_namespace=True,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            values={"installCRDs": True, "replicaCount": 2, "webhook": {"replicaCount": 2}},
            atomic=True,
            opts=on_cluster,
        )
        self.register_outputs(
            {
                "loadBalancerControllerStatus": self.load_balancer_controller.status,
                "externalSecretsStatus": self.external_secrets.status,
            }
        )
