"""JSON and Markdown output of a benchmark run."""

from __future__ import annotations

from typing import Any


def _fmt(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def _verdict(ok: bool | None) -> str:
    return {True: "**pass**", False: "**miss**", None: "-"}[ok]


def markdown(result: dict[str, Any]) -> str:
    lines: list[str] = []
    meta = result["meta"]
    lines.append(f"Run {meta['started_at']} ({meta['sizes']} sizes, {meta['rounds']} interleaved round(s), "
                 f"medians), {meta['seconds']:.0f} s.")
    m = meta["machine"]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
                 f"Python {m['python']}, asyncpg {m['asyncpg']}; load average at start "
                 f"{', '.join(f'{x:.2f}' for x in m['load_average'])} (shared machine: only same-run ratios count).")
    lines.append("")
    lines.append("PostgreSQL settings per engine:")
    lines.append("")
    lines.append("| engine | server | TimescaleDB | fsync | synchronous_commit | full_page_writes | shared_buffers |")
    lines.append("|---|---|---|---|---|---|---|")
    for engine, s in result["settings"].items():
        lines.append(f"| {engine} | {s['server_version']} | {s['timescaledb'] or '-'} | {s['fsync']} | "
                     f"{s['synchronous_commit']} | {s['full_page_writes']} | {s['shared_buffers']} |")
    lines.append("")
    lines.append("### Targets")
    lines.append("")
    lines.append("| what | engine | check | target | measured | result |")
    lines.append("|---|---|---|---|---|---|")
    for row in result["rows"]:
        if row.get("skipped"):
            lines.append(f"| {row['row']} | {row['engine']} | - | - | not run: {row['skipped']} | - |")
            continue
        for c in row["checks"]:
            lines.append(f"| {row['row']} | {row['engine']} | {c['description']} | {c['target']} | "
                         f"{c['measured']} | {_verdict(c['ok'])} |")
    lines.append("")
    lines.append("### Figures")
    lines.append("")
    lines.append("| what | engine | variant | throughput /s (runs) | p50 ms | p95 ms | p99 ms | peak RSS MB |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for row in result["rows"]:
        if row.get("skipped"):
            continue
        for v in row["variants"]:
            runs = ", ".join(_fmt(t, 0) for t in v["throughputs"]) if len(v["throughputs"]) > 1 else ""
            tp = _fmt(v["throughput"], 0) + (f" ({runs})" if runs else "")
            lines.append(f"| {row['row']} | {row['engine']} | {v['name']} | {tp} | {_fmt(v['p50_ms'], 2)} | "
                         f"{_fmt(v['p95_ms'], 2)} | {_fmt(v['p99_ms'], 2)} | {_fmt(v['peak_rss_mb'])} |")
    # What each row ran on (sizes, data shape, how the database was prepared): the figures mean little without it.
    workloads = [(row["row"], row["engine"], row["workload"]) for row in result["rows"]
                 if not row.get("skipped") and row.get("workload")]
    if workloads:
        lines.append("")
        lines.append("### Workloads")
        lines.append("")
        lines.extend(f"* {what} ({engine}): {workload}" for what, engine, workload in workloads)
    notes = [(row["row"], row["engine"], n) for row in result["rows"] for n in row.get("notes", [])]
    extras = [
        (row["row"], row["engine"], v["name"], v["extra"])
        for row in result["rows"]
        for v in row.get("variants", [])
        if v.get("extra")
    ]
    if notes or extras:
        lines.append("")
        lines.append("Notes:")
        lines.append("")
        for what, engine, note in notes:
            lines.append(f"* {what} ({engine}): {note}")
        for what, engine, name, extra in extras:
            shown = ", ".join(f"{k} {v}" for k, v in extra.items())
            lines.append(f"* {what} ({engine}, {name}): {shown}")
    return "\n".join(lines) + "\n"


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs (e.g. one per engine) as one table; each row keeps the baseline of its own run."""
    first = results[0]
    merged: dict[str, Any] = {"meta": dict(first["meta"]), "settings": {}, "rows": []}
    merged["meta"]["seconds"] = sum(r["meta"].get("seconds", 0) for r in results)
    if len(results) > 1:
        starts = ", ".join(r["meta"]["started_at"] for r in results)
        merged["meta"]["started_at"] = f"{len(results)} runs ({starts})"
    for r in results:
        merged["settings"].update(r["settings"])
        merged["rows"].extend(r["rows"])
    return merged


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report RESULT.json [...]``: print the Markdown table of one or more runs."""
    import json
    import sys

    paths = (argv if argv is not None else sys.argv[1:])
    if not paths:
        print("usage: python -m bench.report RESULT.json [RESULT.json ...]", file=sys.stderr)
        return 2
    results = []
    for p in paths:
        with open(p) as f:
            results.append(json.load(f))
    print(markdown(merge(results)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
