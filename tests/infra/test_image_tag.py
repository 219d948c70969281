"""Class: the image tag changes exactly when the built image can change. ECR tags are immutable: content that
changes under an unchanged tag makes the push fail (review row 6: a README-only change re-pushed the same tag,
while README.md is in the build context). Mocks push nothing."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.components.registry import DOCKERFILE, TARGET, build_context, build_context_hash
from infra.offline.mocks import REPO_ROOT, Graph

TagOf = Callable[[Path], str]
FILES = {
    "pyproject.toml": "[project]\nname = 'x'\n",
    "requirements.lock": "litestar==2\n",
    "README.md": "# x\n",
    "app/Dockerfile": "FROM python\nCOPY . .\n",
    "app/sensorhub/main.py": "print('hi')\n",
    "app/sensorhub/__pycache__/main.cpython-311.pyc": "bytecode",
    "docs/deploy.md": "not in the image\n",
    "tests/test_x.py": "not in the image\n",
}
# (file, whether the built image can change when it changes)
EDITS = [
    ("README.md", True),  # COPY README.md (the package metadata reads it)
    ("app/sensorhub/main.py", True),
    ("pyproject.toml", True),
    ("requirements.lock", True),
    ("app/Dockerfile", True),  # ignored by .dockerignore, yet always sent to the builder
    ("docs/deploy.md", False),
    ("tests/test_x.py", False),
    ("app/sensorhub/__pycache__/main.cpython-311.pyc", False),
]


def _context(root: Path) -> Path:
    shutil.copy(REPO_ROOT / ".dockerignore", root / ".dockerignore")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def tag_problems(tag_of: TagOf, root: Path) -> list[str]:
    """Edit each file in turn; the tag must change exactly for the files that reach the image."""
    problems = []
    for name, reaches_image in EDITS:
        before = tag_of(root)
        path = root / name
        original = path.read_text()
        path.write_text(original + "# edited\n")
        after = tag_of(root)
        path.write_text(original)
        if reaches_image and before == after:
            problems.append(f"editing {name} changes the image but not its tag: the push of an immutable tag fails")
        if not reaches_image and before != after:
            problems.append(f"editing {name} changes the tag but cannot change the image (a needless rebuild)")
    return problems


def _new(root: Path) -> str:
    return build_context_hash(root, DOCKERFILE, target=TARGET, platform="linux/arm64")


def _old(root: Path) -> str:
    """The reviewed code's source_hash: a fixed list of paths, missing README.md and hashing the Dockerfile only
    because it lives under app/."""
    digest = hashlib.sha256()
    for entry in ("app", "pyproject.toml", "requirements.lock", ".dockerignore"):
        path = root / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if not file.exists() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def test_the_tag_follows_the_build_context(tmp_path: Path) -> None:
    assert tag_problems(_new, _context(tmp_path)) == []


def test_the_old_tag_is_caught(tmp_path: Path) -> None:
    assert tag_problems(_old, _context(tmp_path)) == [
        "editing README.md changes the image but not its tag: the push of an immutable tag fails"]


@pytest.mark.parametrize(("target", "platform"), [("dev", "linux/arm64"), (TARGET, "linux/amd64")])
def test_build_settings_are_part_of_the_tag(tmp_path: Path, target: str, platform: str) -> None:
    root = _context(tmp_path)
    assert build_context_hash(root, DOCKERFILE, target=target, platform=platform) != _new(root)


def test_the_context_is_what_dockerignore_leaves(tmp_path: Path) -> None:
    assert build_context(_context(tmp_path)) == [
        "README.md", "app/sensorhub/main.py", "pyproject.toml", "requirements.lock"]


def test_the_graph_tags_the_image_with_the_real_context_hash(graph: Graph) -> None:
    image = graph.of_type("docker:index/image:Image")[0].props
    platform = image["build"]["platform"]
    expected = build_context_hash(REPO_ROOT, DOCKERFILE, target=TARGET, platform=platform)
    assert image["imageName"].endswith(f":ctx-{expected}")
