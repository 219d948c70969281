"""Every Helm chart the program installs, pinned and bumped deliberately (a chart bump is a reviewed change).

Each version is checked against its repository's recorded index, infra/data/chart-index.yaml (read 2026-12-01;
tests/infra/test_versions.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str


LOAD_BALANCER_CONTROLLER = Chart("aws-load-balancer-controller", "3.5.0", "https://aws.github.io/eks-charts")
EXTERNAL_SECRETS = Chart("external-secrets", "2.9.0", "https://charts.external-secrets.io")
FLUENT_BIT = Chart("aws-for-fluent-bit", "0.2.0", "https://aws.github.io/eks-charts")
KUBE_PROMETHEUS_STACK = Chart("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts")
