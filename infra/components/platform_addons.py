"""Cluster add-ons installed with Helm: load balancer controller, External Secrets, Fluent Bit; storage classes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.charts import EXTERNAL_SECRETS, FLUENT_BIT, LOAD_BALANCER_CONTROLLER, Chart
from infra.components.iam import irsa_role

DATA = Path(__file__).resolve().parents[1] / "data"


# The controller's own published policy for the pinned app version (docs/install/iam_policy.json at tag v3.5.0):
# modify/delete calls are conditioned on the *resource* tag, creates on the request tag, RegisterTargets and
# ModifyListener unconditioned. Copied verbatim; replace it together with LOAD_BALANCER_CONTROLLER.
LBC_POLICY_FILE = DATA / f"aws-load-balancer-controller-iam-policy-v{LOAD_BALANCER_CONTROLLER.version}.json"
LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller"
FLUENT_BIT_NAMESPACE = "logging"
FLUENT_BIT_SERVICE_ACCOUNT = "aws-for-fluent-bit"
GP3 = "gp3"
EFS = "efs"


@dataclass(frozen=True)
class PlatformAddonsArgs:
    prefix: str
    cluster_name: str
    region: str
    vpc_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    k8s_provider: k8s.Provider
    file_system_id: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    log_retention_days: int
    workload_namespace: str


class PlatformAddons(pulumi.ComponentResource):
    """What the workloads rely on in the cluster: ALB Ingress, secrets sync, log shipping, storage classes."""

    def __init__(self, name: str, args: PlatformAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:cluster:PlatformAddons", name, None, opts)
        self.args = args
        child = pulumi.ResourceOptions(parent=self)
        self.on_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)

        lbc_role = irsa_role(
            f"{name}-lbc", oidc_provider_arn=args.oidc_provider_arn, oidc_provider_url=args.oidc_provider_url,
            namespace="kube-system", service_account=LBC_SERVICE_ACCOUNT,
            policy=json.dumps(json.loads(LBC_POLICY_FILE.read_text())), opts=child,
        )
        self.load_balancer_controller = self._release(f"{name}-lbc", LOAD_BALANCER_CONTROLLER, "kube-system", {
            "clusterName": args.cluster_name,
            "region": args.region,
            "vpcId": args.vpc_id,
            "replicaCount": 2,
            "serviceAccount": {"name": LBC_SERVICE_ACCOUNT,
                               "annotations": {"eks.amazonaws.com/role-arn": lbc_role.arn}},
        })
        self.external_secrets = self._release(f"{name}-external-secrets", EXTERNAL_SECRETS, "external-secrets", {
            "installCRDs": True, "replicaCount": 2, "webhook": {"replicaCount": 2},
        })
        self.application_logs = self._log_shipping(name)
        self.storage_classes = self._storage_classes(name)
        self.register_outputs(
            {
                "loadBalancerControllerStatus": self.load_balancer_controller.status,
                "externalSecretsStatus": self.external_secrets.status,
                "applicationLogGroup": self.application_logs.name,
            }
        )

    def _release(self, name: str, chart: Chart, namespace: str, values: dict[str, object]) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            name,
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            namespace=namespace,
            create_namespace=namespace != "kube-system",
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            values=values,
            atomic=True,
            opts=self.on_cluster,
        )

    def _log_shipping(self, name: str) -> aws.cloudwatch.LogGroup:
        """Fluent Bit ships the workloads' container logs to ``/<prefix>/application`` (the group it may write)."""
        a = self.args
        group = aws.cloudwatch.LogGroup(
            f"{name}-application-logs",
            name=f"/{a.prefix}/application",
            retention_in_days=a.log_retention_days,
            kms_key_id=a.logs_key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        role = irsa_role(
            f"{name}-fluent-bit", oidc_provider_arn=a.oidc_provider_arn, oidc_provider_url=a.oidc_provider_url,
            namespace=FLUENT_BIT_NAMESPACE, service_account=FLUENT_BIT_SERVICE_ACCOUNT,
            policy=group.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Sid": "ApplicationLogs", "Effect": "Allow",
                               "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                               "Resource": [arn, f"{arn}:*"]}],
            })),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._release(f"{name}-fluent-bit", FLUENT_BIT, FLUENT_BIT_NAMESPACE, {
            "serviceAccount": {"create": True, "name": FLUENT_BIT_SERVICE_ACCOUNT,
                               "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
            "input": {"path": f"/var/log/containers/*_{a.workload_namespace}_*.log"},
            "cloudWatchLogs": {"enabled": True, "region": a.region, "logGroupName": group.name,
                               "logStreamPrefix": "pod-", "autoCreateGroup": False},
            # Only the CloudWatch Logs output: the others default to off, the legacy `cloudWatch` one is named here.
            "cloudWatch": {"enabled": False},
        })
        return group

    def _storage_classes(self, name: str) -> dict[str, k8s.storage.v1.StorageClass]:
        """gp3 (default, encrypted EBS) for Prometheus and friends; efs for shared files via access points."""
        gp3 = k8s.storage.v1.StorageClass(
            f"{name}-storage-{GP3}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=GP3, annotations={"storageclass.kubernetes.io/is-default-class": "true"}
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=self.on_cluster,
        )
        efs = k8s.storage.v1.StorageClass(
            f"{name}-storage-{EFS}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=EFS),
            provisioner="efs.csi.aws.com",
            parameters={
                "provisioningMode": "efs-ap",
                "fileSystemId": self.args.file_system_id,
                "directoryPerms": "750",
                "uid": "10001",
                "gid": "10001",
                "basePath": "/dynamic",
            },
            reclaim_policy="Retain",
            opts=self.on_cluster,
        )
        return {GP3: gp3, EFS: efs}
