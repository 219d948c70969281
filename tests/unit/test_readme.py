"""The README stays true: its configuration table is the settings model's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _settings_table_module():
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_configuration_table_matches_the_settings_model() -> None:
    module = _settings_table_module()
    readme = (ROOT / "README.md").read_text()
    assert module.BEGIN in readme, "README lost its settings table markers"
    assert module.render(readme) == readme, (
        "README's configuration table is out of date: run `.venv/bin/python scripts/settings_table.py --write`"
    )


def test_readme_quick_start_is_the_two_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in quick_start.splitlines() if line.strip().startswith("make ")]
    assert commands == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
