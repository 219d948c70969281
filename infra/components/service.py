"""The sensorhub workloads on Kubernetes: config, secrets, migration Job, Deployments, routing, scaling."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.iam import irsa_trust
from infra.settings import ServiceSettings, WorkloadSettings

NAMESPACE = "sensorhub"
SERVICE_ACCOUNT = "sensorhub"
APP_PORT = 8000
PROJECTOR_PORT = 8001
WORKER_PORT = PROJECTOR_PORT  # workers serve /health/* and /metrics on 8001
RUN_AS = 10001
ENV_SECRET = "sensorhub-env"  # noqa: S105 - a Secret object name
SECRET_STORE = "aws-secrets-manager"  # noqa: S105 - a SecretStore name


@dataclass(frozen=True)
class ServiceArgs:
    prefix: str
    environment: str
    region: str
    settings: ServiceSettings
    image_ref: pulumi.Input[str]
    k8s_provider: k8s.Provider
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    archive_bucket: pulumi.Input[str]
    archive_bucket_arn: pulumi.Input[str]
    database_engine: str
    database_endpoint: pulumi.Input[str]
    database_secret_arn: pulumi.Input[str]
    cache_endpoint: pulumi.Input[str]
    cache_secret_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    storage_key_arn: pulumi.Input[str]
    bootstrap_admin_key: pulumi.Output[str] | None
    protected: bool
    depends_on: list[pulumi.Resource]


def _http_probe(path: str, *, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        period_seconds=period, timeout_seconds=2, failure_threshold=failures,
    )


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "sensorhub", "app.kubernetes.io/component": component}


class Service(pulumi.ComponentResource):
    """Namespace to Ingress. The migration Job completes before any Deployment rolls out."""

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:service:Service", name, None, opts)
        self.args = args
        self.k8s = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        s = args.settings

        admin_secret_arn = self._admin_key_secret(name, args)
        secret_arns: list[pulumi.Input[str]] = [args.database_secret_arn, args.cache_secret_arn]
        if admin_secret_arn is not None:
            secret_arns.append(admin_secret_arn)
        role = self._irsa_role(name, args, secret_arns)

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            ),
            opts=pulumi.ResourceOptions.merge(self.k8s, pulumi.ResourceOptions(depends_on=args.depends_on)),
        )
        ns_opts = pulumi.ResourceOptions.merge(self.k8s, pulumi.ResourceOptions(depends_on=[self.namespace]))
        k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_ACCOUNT, namespace=NAMESPACE, labels=labels("service-account"),
                annotations={"eks.amazonaws.com/role-arn": role.arn},
            ),
            automount_service_account_token=False,
            opts=ns_opts,
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="sensorhub-config", namespace=NAMESPACE, labels=labels("config")),
            data={
                "SENSORHUB_ENV": args.environment,
                "SENSORHUB_LOG_LEVEL": s.log_level,
                "SENSORHUB_LOG_FORMAT": "json",
                "SENSORHUB_TIMESERIES_ENGINE": "timescaledb" if args.database_engine == "timescaledb" else "postgres",
                "SENSORHUB_ARCHIVE_ENABLED": "true" if s.archive_enabled else "false",
                "SENSORHUB_ARCHIVE_URL": pulumi.Output.concat("s3://", args.archive_bucket, "/archive"),
                # Migrations run in the Job below, under an advisory lock, never at pod start.
                "SENSORHUB_AUTO_MIGRATE": "false",
                "SENSORHUB_HOST": "0.0.0.0",  # noqa: S104 - listen on the pod IP
                "SENSORHUB_PORT": str(APP_PORT),
                "AWS_REGION": args.region,
            },
            opts=ns_opts,
        )
        env_secret = self._external_secret(name, ns_opts, admin_secret_arn is not None)

        pod_deps = pulumi.ResourceOptions.merge(self.k8s, pulumi.ResourceOptions(depends_on=[config, env_secret]))
        self.migration = k8s.batch.v1.Job(
            f"{name}-migrate",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=NAMESPACE, labels=labels("migrate"),
                # A new image digest is a new Job (Jobs are immutable); Pulumi waits for it to succeed.
                annotations={"pulumi.com/replaceUnready": "true", "sensorhub.io/image": args.image_ref},
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=2,
                active_deadline_seconds=900,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels("migrate")),
                    spec=self._pod_spec(["sensorhub", "migrate"], s.projector, restart_policy="Never", port=None),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(pod_deps, pulumi.ResourceOptions(replace_on_changes=["*"])),
        )
        rollout = pulumi.ResourceOptions.merge(self.k8s, pulumi.ResourceOptions(depends_on=[self.migration]))

        self.api = self._deployment(f"{name}-api", "api", ["sensorhub", "serve"], s.api, port=APP_PORT, opts=rollout)
        self.projector = self._deployment(
            f"{name}-projector", "projector", ["sensorhub", "projector"], s.projector, port=PROJECTOR_PORT, opts=rollout
        )
        self.maintenance = self._deployment(
            f"{name}-maintenance", "maintenance", ["sensorhub", "maintenance"], s.maintenance,
            port=WORKER_PORT, opts=rollout,
        )
        self._routing(name, ns_opts)
        self._scaling(name, ns_opts)
        self._network_policy(name, ns_opts)

        self.api_url = f"https://{s.hostname}"
        self.register_outputs({"apiUrl": self.api_url, "namespace": NAMESPACE, "roleArn": role.arn})

    # ------------------------------------------------------------------ AWS side

    def _admin_key_secret(self, name: str, args: ServiceArgs) -> pulumi.Output[str] | None:
        if args.bootstrap_admin_key is None:
            return None
        secret = aws.secretsmanager.Secret(
            f"{name}-bootstrap-admin-key",
            name=f"{args.prefix}/bootstrap-admin-key",
            kms_key_id=args.secrets_key_arn,
            recovery_window_in_days=30 if args.protected else 0,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-bootstrap-admin-key",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(args.bootstrap_admin_key),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return secret.arn

    def _irsa_role(self, name: str, args: ServiceArgs, secret_arns: list[pulumi.Input[str]]) -> aws.iam.Role:
        """Least privilege: its bucket, its secrets, the two keys that encrypt them."""
        role = aws.iam.Role(
            f"{name}-workload",
            assume_role_policy=irsa_trust(args.oidc_provider_arn, args.oidc_provider_url, NAMESPACE, SERVICE_ACCOUNT),
            opts=pulumi.ResourceOptions(parent=self),
        )

        def render(values: list[str]) -> str:
            bucket_arn, secrets_key, storage_key, *secrets = values
            return json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "ArchiveList", "Effect": "Allow", "Action": ["s3:ListBucket"],
                         "Resource": bucket_arn},
                        {"Sid": "ArchiveObjects", "Effect": "Allow",
                         "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                         "Resource": f"{bucket_arn}/*"},
                        {"Sid": "OwnSecrets", "Effect": "Allow",
                         "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                         "Resource": secrets},
                        {"Sid": "OwnKeys", "Effect": "Allow",
                         "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [secrets_key, storage_key]},
                    ],
                }
            )

        aws.iam.RolePolicy(
            f"{name}-workload",
            role=role.id,
            policy=pulumi.Output.all(
                args.archive_bucket_arn, args.secrets_key_arn, args.storage_key_arn, *secret_arns
            ).apply(render),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role

    # ------------------------------------------------------------------ secrets

    def _external_secret(self, name: str, opts: pulumi.ResourceOptions, with_admin_key: bool) -> pulumi.Resource:
        """External Secrets renders ``sensorhub-env`` from Secrets Manager, so RDS password rotation just works."""
        args = self.args
        store = k8s.apiextensions.CustomResource(
            f"{name}-secret-store",
            api_version="external-secrets.io/v1",
            kind="SecretStore",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SECRET_STORE, namespace=NAMESPACE, labels=labels("secrets")),
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": args.region,
                        "auth": {"jwt": {"serviceAccountRef": {"name": SERVICE_ACCOUNT}}},
                    }
                }
            },
            opts=opts,
        )
        if args.database_engine == "postgres":
            database_url = pulumi.Output.concat(
                "postgresql://{{ .db_username | urlquery }}:{{ .db_password | urlquery }}@",
                args.database_endpoint, ":5432/sensorhub?sslmode=require",
            )
            database_refs: list[dict[str, object]] = [
                {"secretKey": "db_username", "remoteRef": {"key": args.database_secret_arn, "property": "username"}},
                {"secretKey": "db_password", "remoteRef": {"key": args.database_secret_arn, "property": "password"}},
            ]
        else:
            database_url = pulumi.Output.from_input("{{ .db_dsn }}")
            database_refs = [{"secretKey": "db_dsn", "remoteRef": {"key": args.database_secret_arn}}]
        template: dict[str, pulumi.Input[str]] = {
            "SENSORHUB_DATABASE_URL": database_url,
            "SENSORHUB_REDIS_URL": pulumi.Output.concat(
                "rediss://:{{ .redis_token | urlquery }}@", args.cache_endpoint, ":6379/0"
            ),
        }
        refs = [*database_refs,
                {"secretKey": "redis_token", "remoteRef": {"key": args.cache_secret_arn, "property": "token"}}]
        if with_admin_key:
            template["SENSORHUB_BOOTSTRAP_ADMIN_KEY"] = "{{ .admin_key }}"
            refs.append({"secretKey": "admin_key", "remoteRef": {"key": f"{args.prefix}/bootstrap-admin-key"}})
        return k8s.apiextensions.CustomResource(
            f"{name}-env",
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ENV_SECRET, namespace=NAMESPACE, labels=labels("secrets")),
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
                "target": {
                    "name": ENV_SECRET,
                    "creationPolicy": "Owner",
                    "template": {"engineVersion": "v2", "data": template},
                },
                "data": refs,
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[store])),
        )

    # ------------------------------------------------------------------ workloads

    def _container(self, command: list[str], workload: WorkloadSettings, port: int | None) -> k8s.core.v1.ContainerArgs:
        resources = {"cpu": workload.cpu, "memory": workload.memory}
        ports: list[k8s.core.v1.ContainerPortArgs] = []
        liveness = readiness = startup = None
        if port is not None:
            ports = [k8s.core.v1.ContainerPortArgs(name="http", container_port=port)]
            liveness = _http_probe("/health/live", period=10, failures=3)
            readiness = _http_probe("/health/ready", period=5, failures=3)
            # Slow starts (cold caches, leader election) get 60 s before liveness may kill the pod.
            startup = _http_probe("/health/live", period=2, failures=30)
        return k8s.core.v1.ContainerArgs(
            name="sensorhub",
            image=self.args.image_ref,
            image_pull_policy="Always",
            command=command,
            ports=ports,
            env_from=[
                k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name="sensorhub-config")),
                k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=ENV_SECRET)),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(requests=resources, limits=resources),
            security_context=k8s.core.v1.SecurityContextArgs(
                run_as_non_root=True,
                run_as_user=RUN_AS,
                run_as_group=RUN_AS,
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                privileged=False,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],  # noqa: S108 - emptyDir
            liveness_probe=liveness,
            readiness_probe=readiness,
            startup_probe=startup,
        )

    def _pod_spec(self, command: list[str], workload: WorkloadSettings, *, restart_policy: str,
                  port: int | None, component: str | None = None) -> k8s.core.v1.PodSpecArgs:
        spread: list[k8s.core.v1.TopologySpreadConstraintArgs] = []
        if component is not None:
            spread = [
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1, topology_key=key, when_unsatisfiable=mode,
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels(component)),
                )
                for key, mode in (("topology.kubernetes.io/zone", "ScheduleAnyway"),
                                  ("kubernetes.io/hostname", "ScheduleAnyway"))
            ]
        return k8s.core.v1.PodSpecArgs(
            service_account_name=SERVICE_ACCOUNT,
            # The app does not call the Kubernetes API; IRSA mounts its own projected token.
            automount_service_account_token=False,
            restart_policy=restart_policy,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS, fs_group=RUN_AS,
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            containers=[self._container(command, workload, port)],
            volumes=[
                k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi"))
            ],
            topology_spread_constraints=spread,
            termination_grace_period_seconds=30,
        )

    def _deployment(self, name: str, component: str, command: list[str], workload: WorkloadSettings, *,
                    port: int, opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        return k8s.apps.v1.Deployment(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"sensorhub-{component}", namespace=NAMESPACE,
                                                labels=labels(component)),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=workload.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels(component)),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge="25%", max_unavailable=0),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component)),
                    spec=self._pod_spec(command, workload, restart_policy="Always", port=port, component=component),
                ),
            ),
            opts=opts,
        )

    # ------------------------------------------------------------------ routing and scaling

    def _routing(self, name: str, opts: pulumi.ResourceOptions) -> None:
        s = self.args.settings
        for component, port in (("api", APP_PORT), ("projector", PROJECTOR_PORT)):
            k8s.core.v1.Service(
                f"{name}-{component}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"sensorhub-{component}", namespace=NAMESPACE,
                                                    labels=labels(component)),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    selector=labels(component),
                    ports=[k8s.core.v1.ServicePortArgs(name="http", port=port, target_port="http")],
                ),
                opts=opts,
            )
        k8s.networking.v1.Ingress(
            f"{name}-api",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="sensorhub-api",
                namespace=NAMESPACE,
                labels=labels("api"),
                annotations={
                    "alb.ingress.kubernetes.io/scheme": "internet-facing",
                    "alb.ingress.kubernetes.io/target-type": "ip",
                    "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTPS": 443}]),
                    "alb.ingress.kubernetes.io/certificate-arn": s.certificate_arn,
                    "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                    "alb.ingress.kubernetes.io/healthcheck-path": "/health/ready",
                    "alb.ingress.kubernetes.io/load-balancer-attributes":
                        "routing.http.drop_invalid_header_fields.enabled=true",
                },
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name="alb",
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=s.hostname,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[
                                k8s.networking.v1.HTTPIngressPathArgs(
                                    path="/",
                                    path_type="Prefix",
                                    backend=k8s.networking.v1.IngressBackendArgs(
                                        service=k8s.networking.v1.IngressServiceBackendArgs(
                                            name="sensorhub-api",
                                            port=k8s.networking.v1.ServiceBackendPortArgs(name="http"),
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[self.api])),
        )

    def _scaling(self, name: str, opts: pulumi.ResourceOptions) -> None:
        s = self.args.settings
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-api",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="sensorhub-api", namespace=NAMESPACE, labels=labels("api")),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name="sensorhub-api"
                ),
                min_replicas=s.api.replicas,
                max_replicas=s.api_max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=s.api_target_cpu_percent
                            ),
                        ),
                    )
                ],
            ),
            opts=opts,
        )
        for component in ("api", "projector"):
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{component}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"sensorhub-{component}", namespace=NAMESPACE,
                                                    labels=labels(component)),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels(component)),
                ),
                opts=opts,
            )

    def _network_policy(self, name: str, opts: pulumi.ResourceOptions) -> None:
        """API reachable on its port (from the ALB); metrics only from the monitoring namespace."""
        monitoring = k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels={"kubernetes.io/metadata.name": "monitoring"}
            )
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="sensorhub-ingress", namespace=NAMESPACE, labels=labels("network")
            ),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": "sensorhub"}),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=APP_PORT, protocol="TCP")]
                    ),
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[monitoring],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=PROJECTOR_PORT, protocol="TCP")],
                    ),
                ],
            ),
            opts=opts,
        )
