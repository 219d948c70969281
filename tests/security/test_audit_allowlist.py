"""The dependency audit's allow-list is well formed (the audit itself needs the network: ``make audit``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _audit_module():
    spec = importlib.util.spec_from_file_location("audit", ROOT / "scripts" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_allowlist_entries_have_an_id_and_a_reason() -> None:
    audit = _audit_module()
    for vuln_id, reason in audit.read_allowlist().items():
        assert len(reason.split()) >= 3, f"{vuln_id}: give a reason (why it cannot be fixed, when to revisit)"


def test_a_line_without_a_reason_is_refused(tmp_path: Path) -> None:
    audit = _audit_module()
    bad = tmp_path / "allow.txt"
    bad.write_text("# comment\nGHSA-aaaa-bbbb-cccc  not reachable: we never parse untrusted TOML\nPYSEC-2024-1\n")
    with pytest.raises(ValueError, match=r"allow\.txt:3"):
        audit.read_allowlist(bad)
    bad.write_text("GHSA-aaaa-bbbb-cccc  not reachable: we never parse untrusted TOML\n")
    assert audit.read_allowlist(bad) == {"GHSA-aaaa-bbbb-cccc": "not reachable: we never parse untrusted TOML"}
