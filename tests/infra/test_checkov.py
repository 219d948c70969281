"""checkov over every stack's Kubernetes manifests and the Dockerfile, from its own virtualenv.

The first run creates `.local/checkov-venv` (about a minute); later runs take a few seconds.
Accepted findings are listed with reasons in infra/checkov.yaml and infra/checkov-skips.md.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.offline import manifests
from infra.offline.mocks import STACKS
from tests.infra.conftest import recorded

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = [str(ROOT / "scripts" / "checkov.sh"), "--config-file", str(ROOT / "infra" / "checkov.yaml")]


def _checkov(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHECKOV, *args], capture_output=True, text=True, check=False, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def manifest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("manifests")
    for stack in STACKS:
        manifests.write(recorded(stack), directory / stack)
    return directory


def test_kubernetes_manifests_pass_checkov(manifest_dir: Path) -> None:
    result = _checkov("-d", str(manifest_dir), "--framework", "kubernetes")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Passed checks" in result.stdout


def test_dockerfile_passes_checkov() -> None:
    result = _checkov("-f", str(ROOT / "app" / "Dockerfile"), "--framework", "dockerfile")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Passed checks" in result.stdout


def test_every_skip_is_explained() -> None:
    config = (ROOT / "infra" / "checkov.yaml").read_text()
    explained = (ROOT / "infra" / "checkov-skips.md").read_text()
    skips = [line.strip()[2:] for line in config.splitlines() if line.strip().startswith("- CKV")]
    assert skips and all(s in explained for s in skips)
