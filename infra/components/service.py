"""The sensorhub workloads on Kubernetes: config, secrets, database bootstrap and migration Jobs, Deployments,
routing, scaling."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.archive_catalog import ARCHIVE_PREFIX
from infra.components.database import DATABASE_NAME, PORT, AppCredentials
from infra.components.iam import irsa_role
from infra.stack_config import Section

NAMESPACE = "sensorhub"
SERVICE_ACCOUNT = "sensorhub"
# External Secrets authenticates to Secrets Manager as this account; the service's own role cannot read secrets.
SECRETS_SERVICE_ACCOUNT = "sensorhub-secrets"
APP_PORT = 8000
PROJECTOR_PORT = 8001
WORKER_PORT = PROJECTOR_PORT  # workers serve /health/* and /metrics on 8001
RUN_AS = 10001
ENV_SECRET = "sensorhub-env"  # noqa: S105 - a Secret object name (ExternalSecret target)
DATABASE_SECRET = "sensorhub-database"  # noqa: S105 - a Secret object name (written by Pulumi)
MASTER_SECRET = "sensorhub-database-master"  # noqa: S105 - a Secret object name, read by the bootstrap Job only
SECRET_STORE = "aws-secrets-manager"  # noqa: S105 - a SecretStore name
CONFIG_MAP = "sensorhub-config"
BOOTSTRAP_CONFIG_MAP = "sensorhub-database-bootstrap"
BOOTSTRAP_SCRIPT = Path(__file__).with_name("database_bootstrap.py")
LogLevel = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True)
class WorkloadSettings:
    replicas: int
    cpu: str
    memory: str

    @classmethod
    def read(cls, section: Section) -> WorkloadSettings:
        workload = cls(replicas=section.integer("replicas", 1, 50), cpu=section.string("cpu"),
                       memory=section.string("memory"))
        section.done()
        return workload


@dataclass(frozen=True)
class ServiceSettings:
    hostname: str
    certificate_arn: str
    log_level: LogLevel
    api: WorkloadSettings
    api_max_replicas: int
    api_target_cpu_percent: int
    projector: WorkloadSettings
    maintenance: WorkloadSettings
    archive_enabled: bool

    @classmethod
    def read(cls, section: Section) -> ServiceSettings:
        settings = cls(
            hostname=section.string("hostname"),
            certificate_arn=section.string("certificateArn"),
            log_level=cast(LogLevel, section.choice("logLevel", ["debug", "info", "warning", "error"])),
            api=WorkloadSettings.read(section.section("api")),
            api_max_replicas=section.integer("apiMaxReplicas", 1, 100),
            api_target_cpu_percent=section.integer("apiTargetCpuPercent", 20, 95),
            projector=WorkloadSettings.read(section.section("projector")),
            maintenance=WorkloadSettings.read(section.section("maintenance")),
            archive_enabled=section.boolean("archiveEnabled"),
        )
        section.done()
        if settings.api_max_replicas < settings.api.replicas:
            section.fail(f"must be at least api.replicas ({settings.api.replicas})", "apiMaxReplicas")
        if not settings.certificate_arn.startswith("arn:aws:acm:"):
            section.fail(f"must be an ACM certificate ARN, got {settings.certificate_arn!r}", "certificateArn")
        return settings


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
    app_credentials: AppCredentials | None
    cache_endpoint: pulumi.Input[str]
    cache_secret_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    storage_key_arn: pulumi.Input[str]
    personal_data_key_arn: pulumi.Input[str]  # wraps the subjects' data keys (SENSORHUB_KMS_KEY_ID)
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


def _fingerprint(secret: pulumi.Output[str]) -> pulumi.Output[str]:
    """A short hash of a secret for a pod-template annotation: pods roll when the secret changes.

    Deliberately not secret: 64 bits of a SHA-256 of a 40-character random password reveal nothing, and a
    secret annotation would make Pulumi hide the whole pod spec (image, resources) in every preview diff.
    """
    return pulumi.Output.unsecret(secret.apply(lambda value: hashlib.sha256(value.encode()).hexdigest()[:16]))


class Service(pulumi.ComponentResource):
    """Namespace to Ingress. The database bootstrap and migration Jobs complete before any Deployment rolls out."""

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:service:Service", name, None, opts)
        self.args = args
        self.k8s = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        s = args.settings
        self.pod_annotations: dict[str, pulumi.Input[str]] = {}

        admin_secret_arn = self._admin_key_secret(name, args)
        secret_arns: list[pulumi.Input[str]] = [args.database_secret_arn, args.cache_secret_arn]
        if admin_secret_arn is not None:
            secret_arns.append(admin_secret_arn)
        workload_role = self._workload_role(name)
        secrets_role = self._secrets_role(name, secret_arns)

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
        for account, role in ((SERVICE_ACCOUNT, workload_role), (SECRETS_SERVICE_ACCOUNT, secrets_role)):
            k8s.core.v1.ServiceAccount(
                f"{name}-service-account" if account == SERVICE_ACCOUNT else f"{name}-secrets-service-account",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=account, namespace=NAMESPACE, labels=labels("service-account"),
                    annotations={"eks.amazonaws.com/role-arn": role.arn},
                ),
                automount_service_account_token=False,
                opts=ns_opts,
            )
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CONFIG_MAP, namespace=NAMESPACE, labels=labels("config")),
            data={
                "SENSORHUB_ENV": args.environment,
                "SENSORHUB_LOG_LEVEL": s.log_level,
                "SENSORHUB_LOG_FORMAT": "json",
                "SENSORHUB_TIMESERIES_ENGINE": "timescaledb" if args.database_engine == "timescaledb" else "postgres",
                "SENSORHUB_ARCHIVE_ENABLED": "true" if s.archive_enabled else "false",
                "SENSORHUB_ARCHIVE_URL": pulumi.Output.concat("s3://", args.archive_bucket, f"/{ARCHIVE_PREFIX}"),
                # Migrations run in the Job below, under an advisory lock, never at pod start.
                "SENSORHUB_AUTO_MIGRATE": "false",
                "SENSORHUB_HOST": "0.0.0.0",  # noqa: S104 - listen on the pod IP
                "SENSORHUB_PORT": str(APP_PORT),
                "SENSORHUB_KMS_KEY_ID": args.personal_data_key_arn,
                "AWS_REGION": args.region,
            },
            opts=ns_opts,
        )
        store = self._secret_store(name, ns_opts)
        secrets = [config, self._external_secret(name, ns_opts, store, admin_secret_arn is not None)]
        self.env_secrets = [ENV_SECRET]
        bootstrap: list[pulumi.Resource] = []
        if args.app_credentials is not None:
            database_secret = self._database_secret(name, ns_opts, args.app_credentials)
            secrets.append(database_secret)
            self.env_secrets.append(DATABASE_SECRET)
            bootstrap = [self._database_bootstrap(name, ns_opts, store, database_secret, args.app_credentials)]

        pod_deps = pulumi.ResourceOptions.merge(self.k8s, pulumi.ResourceOptions(depends_on=[*secrets, *bootstrap]))
        self.migration = self._job(
            f"{name}-migrate", "migrate", self._container(["sensorhub", "migrate"], s.projector, None), pod_deps
        )
        rollout = pulumi.ResourceOptions.merge(self.k8s, pulumi.ResourceOptions(depends_on=[self.migration]))

        # The HPA owns the API's replica count: the Deployment leaves spec.replicas unset (see _deployment).
        self.api = self._deployment(f"{name}-api", "api", ["sensorhub", "serve"], s.api, port=APP_PORT,
                                    opts=rollout, scaled_by_hpa=True)
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
        self.register_outputs({"apiUrl": self.api_url, "namespace": NAMESPACE, "roleArn": workload_role.arn})

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

    def _workload_role(self, name: str) -> aws.iam.Role:
        """The pods' role, least privilege: the archive bucket and its key, the personal-data key. No secrets."""
        args = self.args
        policy = pulumi.Output.all(args.archive_bucket_arn, args.storage_key_arn, args.personal_data_key_arn).apply(
            lambda v: json.dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "ArchiveList", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": v[0]},
                    {"Sid": "ArchiveObjects", "Effect": "Allow",
                     "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                     "Resource": f"{v[0]}/*"},
                    # A redone archive day removes an earlier attempt's leftovers and a manifest whose files
                    # are gone (docs/archive.md); only under the service's own readings.
                    {"Sid": "ArchiveRedo", "Effect": "Allow", "Action": ["s3:DeleteObject"],
                     "Resource": f"{v[0]}/{ARCHIVE_PREFIX}/readings/*"},
                    {"Sid": "ArchiveKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                     "Resource": v[1]},
                    # Personal data: each subject's data key is wrapped (Encrypt) and unwrapped (Decrypt)
                    # by this key; GenerateDataKey for an envelope made by KMS itself.
                    {"Sid": "PersonalDataKey", "Effect": "Allow",
                     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], "Resource": v[2]},
                ],
            })
        )
        return irsa_role(f"{name}-workload", oidc_provider_arn=args.oidc_provider_arn,
                         oidc_provider_url=args.oidc_provider_url, namespace=NAMESPACE,
                         service_account=SERVICE_ACCOUNT, policy=policy, opts=pulumi.ResourceOptions(parent=self))

    def _secrets_role(self, name: str, secret_arns: list[pulumi.Input[str]]) -> aws.iam.Role:
        """External Secrets' role in this namespace: read exactly the service's secrets."""
        args = self.args
        policy = pulumi.Output.all(args.secrets_key_arn, *secret_arns).apply(
            lambda v: json.dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "OwnSecrets", "Effect": "Allow",
                     "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                     "Resource": v[1:]},
                    {"Sid": "SecretsKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": v[0]},
                ],
            })
        )
        return irsa_role(f"{name}-secrets", oidc_provider_arn=args.oidc_provider_arn,
                         oidc_provider_url=args.oidc_provider_url, namespace=NAMESPACE,
                         service_account=SECRETS_SERVICE_ACCOUNT, policy=policy,
                         opts=pulumi.ResourceOptions(parent=self))

    # ------------------------------------------------------------------ secrets

    def _secret_store(self, name: str, opts: pulumi.ResourceOptions) -> pulumi.Resource:
        return k8s.apiextensions.CustomResource(
            f"{name}-secret-store",
            api_version="external-secrets.io/v1",
            kind="SecretStore",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SECRET_STORE, namespace=NAMESPACE, labels=labels("secrets")),
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": self.args.region,
                        "auth": {"jwt": {"serviceAccountRef": {"name": SECRETS_SERVICE_ACCOUNT}}},
                    }
                }
            },
            opts=opts,
        )

    def _external_secret_resource(self, name: str, secret_name: str, spec: dict[str, object],
                                  opts: pulumi.ResourceOptions, store: pulumi.Resource) -> pulumi.Resource:
        return k8s.apiextensions.CustomResource(
            name,
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=NAMESPACE, labels=labels("secrets")),
            spec={"secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"}, **spec},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[store])),
        )

    def _external_secret(self, name: str, opts: pulumi.ResourceOptions, store: pulumi.Resource,
                         with_admin_key: bool) -> pulumi.Resource:
        """``sensorhub-env``: the Redis URL (and the admin key; the DSN of an external TimescaleDB)."""
        args = self.args
        template: dict[str, pulumi.Input[str]] = {
            "SENSORHUB_REDIS_URL": pulumi.Output.concat(
                "rediss://:{{ .redis_token | urlquery }}@", args.cache_endpoint, ":6379/0"
            ),
        }
        refs: list[dict[str, object]] = [
            {"secretKey": "redis_token", "remoteRef": {"key": args.cache_secret_arn, "property": "token"}}
        ]
        if args.app_credentials is None:  # external TimescaleDB: its DSN, set by the platform team
            template["SENSORHUB_DATABASE_URL"] = "{{ .db_dsn }}"
            refs.append({"secretKey": "db_dsn", "remoteRef": {"key": args.database_secret_arn}})
        if with_admin_key:
            template["SENSORHUB_BOOTSTRAP_ADMIN_KEY"] = "{{ .admin_key }}"
            refs.append({"secretKey": "admin_key", "remoteRef": {"key": f"{args.prefix}/bootstrap-admin-key"}})
        return self._external_secret_resource(f"{name}-env", ENV_SECRET, {
            "refreshInterval": "1h",
            "target": {"name": ENV_SECRET, "creationPolicy": "Owner",
                       "template": {"engineVersion": "v2", "data": template}},
            "data": refs,
        }, opts, store)

    def _database_secret(self, name: str, opts: pulumi.ResourceOptions,
                         credentials: AppCredentials) -> k8s.core.v1.Secret:
        """The service's own database URL, written by Pulumi: it changes only when Pulumi rotates the password,
        and the pods roll with it (their template carries the password's fingerprint)."""
        url = pulumi.Output.secret(pulumi.Output.concat(
            "postgresql://", credentials.username, ":", credentials.password, "@", self.args.database_endpoint,
            f":{PORT}/{DATABASE_NAME}?sslmode=require",
        ))
        self.pod_annotations["sensorhub.io/database-credentials"] = _fingerprint(credentials.password)
        return k8s.core.v1.Secret(
            f"{name}-database",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DATABASE_SECRET, namespace=NAMESPACE, labels=labels("secrets")),
            type="Opaque",
            string_data={"SENSORHUB_DATABASE_URL": url},
            opts=opts,
        )

    def _database_bootstrap(self, name: str, opts: pulumi.ResourceOptions, store: pulumi.Resource,
                            database_secret: pulumi.Resource, credentials: AppCredentials) -> pulumi.Resource:
        """A Job that, as the RDS master user, creates or updates the service's login role and hands it the
        database. The master secret rotates every 7 days; this Job reads it fresh each time it runs."""
        master = self._external_secret_resource(f"{name}-database-master", MASTER_SECRET, {
            "refreshInterval": "15m",
            "target": {"name": MASTER_SECRET, "creationPolicy": "Owner"},
            "data": [
                {"secretKey": "MASTER_USERNAME",
                 "remoteRef": {"key": self.args.database_secret_arn, "property": "username"}},
                {"secretKey": "MASTER_PASSWORD",
                 "remoteRef": {"key": self.args.database_secret_arn, "property": "password"}},
            ],
        }, opts, store)
        script = k8s.core.v1.ConfigMap(
            f"{name}-database-bootstrap",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=BOOTSTRAP_CONFIG_MAP, namespace=NAMESPACE,
                                                labels=labels("database-bootstrap")),
            data={"bootstrap.py": BOOTSTRAP_SCRIPT.read_text()},
            opts=opts,
        )

        def from_secret(env: str, secret: str, key: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(name=env, value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key)))

        # Only this Job sees the master credentials: explicit keys, no envFrom of the service's secrets.
        container = self._container(
            ["python", "/bootstrap/bootstrap.py"], self.args.settings.maintenance, None,
            env=[from_secret("SENSORHUB_DATABASE_URL", DATABASE_SECRET, "SENSORHUB_DATABASE_URL"),
                 from_secret("MASTER_USERNAME", MASTER_SECRET, "MASTER_USERNAME"),
                 from_secret("MASTER_PASSWORD", MASTER_SECRET, "MASTER_PASSWORD")],
            extra_mounts=[k8s.core.v1.VolumeMountArgs(name="bootstrap", mount_path="/bootstrap", read_only=True)],
        )
        extra_volume = k8s.core.v1.VolumeArgs(
            name="bootstrap", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=BOOTSTRAP_CONFIG_MAP))
        return self._job(
            f"{name}-database-bootstrap", "database-bootstrap", container,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[master, script, database_secret])),
            extra_volumes=[extra_volume], fingerprint=_fingerprint(credentials.password),
        )

    def _job(self, name: str, component: str, container: k8s.core.v1.ContainerArgs, opts: pulumi.ResourceOptions,
             *, extra_volumes: list[k8s.core.v1.VolumeArgs] | None = None,
             fingerprint: pulumi.Output[str] | None = None) -> k8s.batch.v1.Job:
        """A run-to-completion Job; a new image digest (or credential) is a new Job, and Pulumi waits for it."""
        annotations: dict[str, pulumi.Input[str]] = {"pulumi.com/replaceUnready": "true",
                                                     "sensorhub.io/image": self.args.image_ref}
        if fingerprint is not None:
            annotations["sensorhub.io/database-credentials"] = fingerprint
        return k8s.batch.v1.Job(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=NAMESPACE, labels=labels(component),
                                                annotations=annotations),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=2,
                active_deadline_seconds=900,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component)),
                    spec=self._pod_spec(container, restart_policy="Never", extra_volumes=extra_volumes),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(replace_on_changes=["*"])),
        )

    # ------------------------------------------------------------------ workloads

    def _container(self, command: list[str], workload: WorkloadSettings, port: int | None, *,
                   env: list[k8s.core.v1.EnvVarArgs] | None = None,
                   extra_mounts: list[k8s.core.v1.VolumeMountArgs] | None = None) -> k8s.core.v1.ContainerArgs:
        """The service container; with ``env`` it gets exactly those variables instead of the service's config."""
        resources = {"cpu": workload.cpu, "memory": workload.memory}
        ports: list[k8s.core.v1.ContainerPortArgs] = []
        liveness = readiness = startup = None
        if port is not None:
            ports = [k8s.core.v1.ContainerPortArgs(name="http", container_port=port)]
            liveness = _http_probe("/health/live", period=10, failures=3)
            readiness = _http_probe("/health/ready", period=5, failures=3)
            # Slow starts (cold caches, leader election) get 60 s before liveness may kill the pod.
            startup = _http_probe("/health/live", period=2, failures=30)
        env_from = None
        if env is None:
            env_from = [
                k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=CONFIG_MAP)),
                *(k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=secret))
                  for secret in self.env_secrets),
            ]
        return k8s.core.v1.ContainerArgs(
            name="sensorhub",
            image=self.args.image_ref,
            image_pull_policy="Always",
            command=command,
            ports=ports,
            env=env,
            env_from=env_from,
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
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108 - emptyDir
                           *(extra_mounts or [])],
            liveness_probe=liveness,
            readiness_probe=readiness,
            startup_probe=startup,
        )

    def _pod_spec(self, container: k8s.core.v1.ContainerArgs, *, restart_policy: str,
                  component: str | None = None,
                  extra_volumes: list[k8s.core.v1.VolumeArgs] | None = None) -> k8s.core.v1.PodSpecArgs:
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
            containers=[container],
            volumes=[
                k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")),
                *(extra_volumes or []),
            ],
            topology_spread_constraints=spread,
            termination_grace_period_seconds=30,
        )

    def _deployment(self, name: str, component: str, command: list[str], workload: WorkloadSettings, *,
                    port: int, opts: pulumi.ResourceOptions, scaled_by_hpa: bool = False) -> k8s.apps.v1.Deployment:
        # Under server-side apply a declared spec.replicas is owned by Pulumi: once the HPA changes it, the next
        # release conflicts (or resets the scale). A scaled Deployment leaves the field to the HPA.
        return k8s.apps.v1.Deployment(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"sensorhub-{component}", namespace=NAMESPACE,
                                                labels=labels(component)),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=None if scaled_by_hpa else workload.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels(component)),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge="25%", max_unavailable=0),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component),
                                                        annotations=self.pod_annotations or None),
                    spec=self._pod_spec(self._container(command, workload, port), restart_policy="Always",
                                        component=component),
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
