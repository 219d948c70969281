"""The benchmarks with tiny sizes, so they never rot (the real run is ``make bench``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, server_url


def test_bench_smoke_runs_every_row_on_every_engine(tmp_path: Path) -> None:
    out = tmp_path / "results"
    cmd = [
        sys.executable, "-m", "bench", "--smoke", "--strict", "--out", str(out),
        "--server", f"timescaledb={server_url('timescaledb')}",
        "--server", f"postgres={server_url('postgres')}",
    ]
    # A bound against a hang, not a speed check: every row on both engines takes 40-90 s under load.
    proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (result_file,) = out.glob("*.json")
    result = json.loads(result_file.read_text())
    assert set(result["settings"]) == {"timescaledb", "postgres"}
    rows = result["rows"]
    assert rows, "no rows ran"
    for row in rows:
        assert not row.get("skipped"), row
        assert row["variants"], row
        assert all(v["throughput"] > 0 for v in row["variants"]), row
        assert row["checks"], row
    by_name = {(r["row"], r["engine"]): r for r in rows}
    # The correctness half of a benchmark holds even at tiny sizes.
    for engine in ("timescaledb", "postgres"):
        hot = by_name[("hot stream", engine)]
        assert next(c for c in hot["checks"] if c["description"] == "lost updates")["ok"] is True
    assert (out / result_file.name.replace(".json", ".md")).read_text().startswith("Run ")
