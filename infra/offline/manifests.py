"""The Kubernetes inputs of a recorded graph as plain manifests (for schema validation and scanners).

Under mocks ``render_yaml_to_directory`` writes nothing, but the recorded inputs of Kubernetes
resources already are the manifests Pulumi will apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from infra.offline.mocks import Graph

NOT_MANIFESTS = ("kubernetes:helm.sh/v3:Release",)
BUILT_IN_GROUPS = ("", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
                   "storage.k8s.io")


def manifests(graph: Graph) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in graph.kubernetes():
        if r.type in NOT_MANIFESTS:
            continue
        manifest = _whole_numbers(r.props)
        metadata = dict(manifest.get("metadata") or {})
        metadata.setdefault("name", r.name)  # Pulumi auto-names (name + random suffix) when none is given
        manifest["metadata"] = metadata
        out.append(manifest)
    return out


def is_built_in(manifest: dict[str, Any]) -> bool:
    api_version = str(manifest.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group in BUILT_IN_GROUPS


def write(graph: Graph, directory: Path) -> list[Path]:
    """One YAML file per object, named kind-name.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    paths = []
    for m in manifests(graph):
        path = directory / f"{m['kind'].lower()}-{m['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(m, sort_keys=False))
        paths.append(path)
    return paths


def _whole_numbers(value: Any) -> Any:
    """The engine hands numbers over as floats; Kubernetes integers are written back as integers."""
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
