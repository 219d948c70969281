"""Alarms, the SNS topic they route to, kube-prometheus-stack, the ServiceMonitors and dashboards."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.components.charts import KUBE_PROMETHEUS_STACK
from infra.components.iam import irsa_role
from infra.stack_config import PROJECT, Section

# Alerts that fire by design: Watchdog always (a dead man's switch for an external heartbeat monitor),
# InfoInhibitor to silence info alerts. Routed to a receiver that drops them, never to the on-call email.
ALWAYS_FIRING = ("Watchdog", "InfoInhibitor")
MONITORING_NAMESPACE = "monitoring"
ALERTMANAGER_SERVICE_ACCOUNT = "kube-prometheus-stack-alertmanager"
DASHBOARDS = Path(__file__).parent / "dashboards"


@dataclass(frozen=True)
class AlarmThresholds:
    rds_cpu_percent: int
    rds_free_storage_gb: int
    rds_free_memory_mb: int
    rds_connections: int
    redis_cpu_percent: int
    redis_memory_percent: int
    redis_evictions: int
    api_5xx_per_minute: int
    projection_lag_seconds: int

    @classmethod
    def read(cls, section: Section) -> AlarmThresholds:
        thresholds = cls(
            rds_cpu_percent=section.integer("rdsCpuPercent", 1, 100),
            rds_free_storage_gb=section.integer("rdsFreeStorageGb", 1, 10000),
            rds_free_memory_mb=section.integer("rdsFreeMemoryMb", 1, 100000),
            rds_connections=section.integer("rdsConnections", 1, 100000),
            redis_cpu_percent=section.integer("redisCpuPercent", 1, 100),
            redis_memory_percent=section.integer("redisMemoryPercent", 1, 100),
            redis_evictions=section.integer("redisEvictions", 0, 1000000),
            api_5xx_per_minute=section.integer("api5xxPerMinute", 1, 100000),
            projection_lag_seconds=section.integer("projectionLagSeconds", 1, 86400),
        )
        section.done()
        return thresholds


@dataclass(frozen=True)
class ObservabilitySettings:
    log_retention_days: int
    route_alarms: bool
    alarm_email: str | None
    thresholds: AlarmThresholds

    @classmethod
    def read(cls, section: Section) -> ObservabilitySettings:
        thresholds = AlarmThresholds.read(section.section("alarmThresholds"))
        settings = cls(
            log_retention_days=section.integer("logRetentionDays", 1, 3653),
            route_alarms=section.boolean("routeAlarms"),
            alarm_email=section.string("alarmEmail", optional=True) or None,
            thresholds=thresholds,
        )
        section.done()
        return settings

    def prod_problems(self) -> list[str]:
        return [] if self.route_alarms else [f"{PROJECT}:observability.routeAlarms must be true in prod"]


@dataclass(frozen=True)
class ObservabilityArgs:
    prefix: str
    region: str
    settings: ObservabilitySettings
    logs_key_arn: pulumi.Input[str]
    k8s_provider: k8s.Provider
    database_identifier: str | None
    cache_replication_group_id: str
    cache_node_count: int
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    # The service's namespace and how to select its components' pods (from the Service component).
    workload_namespace: str
    workload_labels: Callable[[str], dict[str, str]]
    storage_class: str
    depends_on: list[pulumi.Resource]


class Observability(pulumi.ComponentResource):
    """CloudWatch for the managed services, Prometheus/Grafana for the workloads."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        self.args = args

        self.topic = aws.sns.Topic(f"{name}-alarms", name=f"{args.prefix}-alarms",
                                   kms_master_key_id=args.logs_key_arn, opts=child)
        if s.alarm_email:
            aws.sns.TopicSubscription(f"{name}-alarms-email", topic=self.topic.arn, protocol="email",
                                      endpoint=s.alarm_email, opts=child)
        self._alarms(name)
        self._prometheus(name)
        self.register_outputs({"alarmTopicArn": self.topic.arn})

    def _alarms(self, name: str) -> None:
        s, t = self.args.settings, self.args.settings.thresholds
        actions = [self.topic.arn] if s.route_alarms else []
        alarms: list[tuple[str, str, str, dict[str, str], float, str]] = []
        if self.args.database_identifier:
            db = {"DBInstanceIdentifier": self.args.database_identifier}
            alarms += [
                ("rds-cpu", "AWS/RDS", "CPUUtilization", db, t.rds_cpu_percent, "GreaterThanThreshold"),
                ("rds-free-storage", "AWS/RDS", "FreeStorageSpace", db, t.rds_free_storage_gb * 1024**3,
                 "LessThanThreshold"),
                ("rds-freeable-memory", "AWS/RDS", "FreeableMemory", db, t.rds_free_memory_mb * 1024**2,
                 "LessThanThreshold"),
                ("rds-connections", "AWS/RDS", "DatabaseConnections", db, t.rds_connections, "GreaterThanThreshold"),
            ]
        for i in range(self.args.cache_node_count):
            node = {"CacheClusterId": f"{self.args.cache_replication_group_id}-{i + 1:03d}"}
            alarms += [
                (f"redis-cpu-{i}", "AWS/ElastiCache", "EngineCPUUtilization", node, t.redis_cpu_percent,
                 "GreaterThanThreshold"),
                (f"redis-memory-{i}", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", node,
                 t.redis_memory_percent, "GreaterThanThreshold"),
                (f"redis-evictions-{i}", "AWS/ElastiCache", "Evictions", node, t.redis_evictions,
                 "GreaterThanThreshold"),
            ]
        for alarm, namespace, metric, dimensions, threshold, comparison in alarms:
            aws.cloudwatch.MetricAlarm(
                f"{name}-{alarm}",
                name=f"{self.args.prefix}-{alarm}",
                namespace=namespace,
                metric_name=metric,
                dimensions=dimensions,
                statistic="Average",
                period=300,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                threshold=threshold,
                comparison_operator=comparison,
                treat_missing_data="missing",
                alarm_actions=actions,
                ok_actions=actions,
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _prometheus(self, name: str) -> None:
        a, t = self.args, self.args.settings.thresholds
        on_cluster = pulumi.ResourceOptions(parent=self, provider=a.k8s_provider)
        grafana_password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                                 opts=pulumi.ResourceOptions(parent=self))
        namespace = k8s.core.v1.Namespace(
            f"{name}-monitoring",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=MONITORING_NAMESPACE),
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=a.depends_on)),
        )
        in_namespace = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[namespace]))
        grafana_admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="grafana-admin", namespace=MONITORING_NAMESPACE),
            string_data={"admin-user": "admin", "admin-password": grafana_password.result},
            opts=in_namespace,
        )
        for dashboard in sorted(DASHBOARDS.glob("*.json")):
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{dashboard.stem}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"dashboard-{dashboard.stem}", namespace=MONITORING_NAMESPACE,
                    labels={"grafana_dashboard": "1"},
                ),
                data={dashboard.name: dashboard.read_text()},
                opts=in_namespace,
            )
        alertmanager = self._alertmanager(name)
        chart = KUBE_PROMETHEUS_STACK
        self.release = k8s.helm.v3.Release(
            f"{name}-kube-prometheus-stack",
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            namespace=MONITORING_NAMESPACE,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            values={
                "prometheus": {
                    "prometheusSpec": {
                        "retention": "15d",
                        "serviceMonitorSelectorNilUsesHelmValues": False,
                        "ruleSelectorNilUsesHelmValues": False,
                        "storageSpec": {"volumeClaimTemplate": {"spec": {
                            "storageClassName": a.storage_class, "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "50Gi"}}}}},
                    }
                },
                "alertmanager": alertmanager,
                "grafana": {
                    "admin": {"existingSecret": "grafana-admin", "userKey": "admin-user",
                              "passwordKey": "admin-password"},
                    "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard",
                                               "searchNamespace": MONITORING_NAMESPACE}},
                },
            },
            atomic=True,
            timeout=900,
            opts=pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(depends_on=[grafana_admin])),
        )
        crd_ready = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[self.release]))
        namespace_name, labels = a.workload_namespace, a.workload_labels
        for component, port in (("api", "http"), ("projector", "http")):
            k8s.apiextensions.CustomResource(
                f"{name}-servicemonitor-{component}",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"sensorhub-{component}", namespace=namespace_name,
                                                    labels=labels(component)),
                spec={
                    "selector": {"matchLabels": labels(component)},
                    "endpoints": [{"port": port, "path": "/metrics", "interval": "30s"}],
                },
                opts=crd_ready,
            )
        k8s.apiextensions.CustomResource(
            f"{name}-alert-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="sensorhub-alerts", namespace=namespace_name,
                                                labels=labels("alerts")),
            spec={
                "groups": [
                    {
                        "name": "sensorhub",
                        "rules": [
                            {
                                "alert": "SensorhubApi5xx",
                                "expr": (
                                    f'sum(rate(sensorhub_http_requests_total{{namespace="{namespace_name}",status_code=~"5.."}}[5m]))'
                                    f" * 60 > {t.api_5xx_per_minute}"
                                ),
                                "for": "5m",
                                "labels": {"severity": "page"},
                                "annotations": {"summary": "sensorhub API is answering 5xx"},
                            },
                            {
                                "alert": "SensorhubProjectionLag",
                                "expr": f"max(sensorhub_projection_lag_seconds) > {t.projection_lag_seconds}",
                                "for": "10m",
                                "labels": {"severity": "page"},
                                "annotations": {"summary": "read models are falling behind the event store"},
                            },
                            {
                                "alert": "SensorhubFeedHorizonStuck",
                                "expr": "max(sensorhub_feed_horizon_age_seconds) > 120",
                                "for": "3m",
                                "labels": {"severity": "page"},
                                "annotations": {"summary": (
                                    "an open writing transaction holds the event feed (all projections) back; "
                                    "the projector log names it: 'feed horizon stalled'"
                                )},
                            },
                        ],
                    }
                ]
            },
            opts=crd_ready,
        )

    def _alertmanager_role(self, name: str) -> pulumi.Output[str]:
        a = self.args
        policy = pulumi.Output.all(self.topic.arn, a.logs_key_arn).apply(
            lambda v: json.dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sns:Publish", "Resource": v[0]},
                    {"Effect": "Allow", "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": v[1]},
                ],
            })
        )
        return irsa_role(f"{name}-alertmanager", oidc_provider_arn=a.oidc_provider_arn,
                         oidc_provider_url=a.oidc_provider_url, namespace=MONITORING_NAMESPACE,
                         service_account=ALERTMANAGER_SERVICE_ACCOUNT, policy=policy,
                         opts=pulumi.ResourceOptions(parent=self)).arn

    def _alertmanager(self, name: str) -> dict[str, object]:
        """Prometheus alerts go to the same SNS topic as the CloudWatch alarms when routing is on."""
        if not self.args.settings.route_alarms:
            return {"enabled": True}
        return {
            "enabled": True,
            "serviceAccount": {"name": ALERTMANAGER_SERVICE_ACCOUNT,
                               "annotations": {"eks.amazonaws.com/role-arn": self._alertmanager_role(name)}},
            "config": {
                "route": {
                    "receiver": "sns",
                    "group_by": ["alertname"],
                    "routes": [{"receiver": "null", "matchers": [f'alertname = "{alert}"']}
                               for alert in ALWAYS_FIRING],
                },
                "receivers": [
                    {"name": "null"},
                    {"name": "sns", "sns_configs": [{"topic_arn": self.topic.arn,
                                                     "sigv4": {"region": self.args.region}}]},
                ],
            },
        }


def dashboard_names() -> list[str]:
    return [p.stem for p in sorted(DASHBOARDS.glob("*.json"))]
