#!/usr/bin/env python3
"""Dependency audit: pip-audit over requirements.lock, with a documented allow-list.

    python scripts/audit.py            (``make audit``)

Fails when a locked package has a known vulnerability that ``audit-allowlist.txt`` does not list
(lines ``VULN-ID  reason``; ``#`` comments), when an allow-list entry has no reason, and when the
vulnerability service could not be asked about most packages: an audit that audited nothing must
not pass silently (pip-audit itself exits 0 then).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST = ROOT / "audit-allowlist.txt"
MAX_SKIPPED = 0.10  # at most this share of packages may be unauditable (e.g. not on PyPI)
_LINE = re.compile(r"^(?P<id>[A-Za-z]+-[A-Za-z0-9:._-]+)\s+(?P<reason>\S.*)$")


def read_allowlist(path: Path = ALLOWLIST) -> dict[str, str]:
    """``{vuln id: reason}``; raises ValueError naming a malformed line."""
    allowed: dict[str, str] = {}
    if not path.exists():
        return allowed
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"{path.name}:{n}: expected `VULN-ID  reason`, got {raw!r}")
        allowed[m["id"]] = m["reason"]
    return allowed


def main() -> int:
    try:
        allowed = read_allowlist()
    except ValueError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "pip_audit", "-r", str(ROOT / "requirements.lock"), "--disable-pip", "--no-deps",
           "-f", "json", "--progress-spinner", "off"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        print(f"audit: pip-audit failed (is the vulnerability service reachable?)\n{proc.stderr[-2000:]}",
              file=sys.stderr)
        return 2
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    found = [(d["name"], d["version"], v) for d in deps for v in d.get("vulns", [])]
    unexpected = [
        (name, version, v) for name, version, v in found
        if v["id"] not in allowed and not set(v.get("aliases", [])) & set(allowed)
    ]
    for name, version, v in found:
        tag = "allowed" if (name, version, v) not in unexpected else "VULNERABLE"
        fix = ", ".join(v.get("fix_versions", [])) or "no fix released"
        print(f"{tag:10} {name} {version}: {v['id']} (fix: {fix})")
    print(f"audit: {len(deps)} packages, {len(found)} known vulnerabilities ({len(unexpected)} not allowed), "
          f"{len(skipped)} not auditable")
    if deps and len(skipped) / len(deps) > MAX_SKIPPED:
        print(f"audit: {len(skipped)} of {len(deps)} packages could not be audited "
              f"(first: {skipped[0]['name']}: {skipped[0]['skip_reason']}); the vulnerability service "
              "(PyPI's JSON API or OSV) is not reachable from here: run `make audit` where it is (CI)",
              file=sys.stderr)
        return 3
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
