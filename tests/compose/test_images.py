"""The image: compose builds what the Pulumi program builds, and the dev target fits the override.

hadolint over app/Dockerfile is tests/infra/test_manifests.py::test_dockerfile_passes_hadolint.
"""

from __future__ import annotations

import json

from tests.compose.support import (
    BASE,
    OVERRIDE,
    ROOT,
    dockerfile_stages,
    is_sensorhub,
    services,
)


def _pulumi_build_args() -> dict[str, str]:
    """context / dockerfile / target of the image the Pulumi program builds, relative to the repo
    (the registry component builds from the repository root with these constants)."""
    from infra.components import registry

    return {"context": ".", "dockerfile": registry.DOCKERFILE.as_posix(), "target": registry.TARGET}


def test_compose_builds_the_image_pulumi_builds() -> None:
    pulumi = _pulumi_build_args()
    built = {name: s["build"] for name, s in services(BASE).items() if "build" in s}
    assert set(built) == {"migrate", "api", "projector", "maintenance", "simulator"}
    for name, build in built.items():
        # compose paths are relative to compose/, Pulumi's to the repository root.
        assert (BASE.parent / build["context"]).resolve() == (ROOT / pulumi["context"]).resolve(), name
        assert build["dockerfile"] == pulumi["dockerfile"], name
        assert build["target"] == pulumi["target"], f"{name}: compose builds {build['target']!r}, Pulumi {pulumi}"


def test_dockerfile_has_the_production_and_dev_targets() -> None:
    stages = dockerfile_stages()
    assert _pulumi_build_args()["target"] in stages
    dev_targets = {s["build"]["target"] for s in services(OVERRIDE).values() if "build" in s}
    assert dev_targets == {"dev"} and "dev" in stages


def test_dev_override_mounts_the_source_where_the_dev_stage_installed_it() -> None:
    lines = dockerfile_stages()["dev"]
    workdir = [line.split(None, 1)[1] for line in lines if line.upper().startswith("WORKDIR ")][-1]
    assert any("pip install" in line and "-e ." in line for line in lines), "dev stage must install editable"
    for name, service in services(OVERRIDE).items():
        if "build" in service:
            assert f"../app/sensorhub:{workdir}/app/sensorhub:ro" in service["volumes"], name
    assert services(OVERRIDE)["api"]["command"] == ["serve", "--reload"]


def test_entrypoint_is_the_cli_so_commands_are_subcommands() -> None:
    for stage in (_pulumi_build_args()["target"], "dev"):
        entry = [line for line in dockerfile_stages()[stage] if line.upper().startswith("ENTRYPOINT")]
        assert entry and json.loads(entry[-1].split(None, 1)[1]) == ["sensorhub"], stage
    for name, service in services(BASE).items():
        if is_sensorhub(service):
            assert service["command"][0] != "sensorhub", f"{name}: the entrypoint already is `sensorhub`"

