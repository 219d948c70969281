"""``python -m bench``: every row of PERFORMANCE.md's table against its same-run baseline.

    python -m bench                      durable private clusters (.local/pg/bench-*), full sizes
    python -m bench --scale 0.1          the same with bulk sizes scaled down
    python -m bench --smoke              tiny sizes (runs inside ``make test``)
    python -m bench --server timescaledb=postgresql://... --server postgres=postgresql://...
                                         use these servers instead of the private clusters
    python -m bench --rows append,batch  only these rows (see --list)

Writes ``bench/results/<date>.json`` and ``.md`` (``--out`` to change the directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sensorhub.observability import configure_logging

from bench import rows_eventstore
from bench.context import Context, database, machine_info, server_settings
from bench.core import RowResult, Sizes
from bench.report import markdown

RowFn = Callable[[Context], Awaitable[RowResult | list[RowResult]]]


def all_rows() -> dict[str, RowFn]:
    rows: dict[str, RowFn] = dict(rows_eventstore.ROWS)
    modules = (
        "bench.rows_projections",
        "bench.rows_timeseries",
        "bench.rows_conditions",
        "bench.rows_compression",
        "bench.rows_stream_archive",
    )
    for module in modules:
        try:
            mod = __import__(module, fromlist=["ROWS"])
        except ImportError as exc:  # the code a row measures has not landed yet
            print(f"[bench] {module} unavailable: {exc}", file=sys.stderr)
            continue
        rows.update(mod.ROWS)
    return rows


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = Sizes.smoke() if args.smoke else Sizes.full(args.scale)
    servers: dict[str, str] = {}
    for item in args.server or []:
        engine, _, url = item.partition("=")
        servers[engine] = url
    if not servers:
        from bench.cluster import bench_clusters

        servers = {e: c.url() for e, c in bench_clusters(tuple(args.engines.split(","))).items()}
    available = all_rows()
    wanted = list(available) if args.rows == "all" else args.rows.split(",")
    started = time.time()
    result: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sizes": sizes.name,
            "rounds": sizes.rounds,
            "machine": machine_info(),
            "sizes_detail": sizes.__dict__,
        },
        "settings": {},
        "rows": [],
    }
    for engine, url in servers.items():
        result["settings"][engine] = await server_settings(url)
        async with database(engine, url, sizes, keep=args.keep) as ctx:
            await rows_eventstore.prepare(ctx)
            for name in wanted:
                fn = available.get(name)
                if fn is None:
                    result["rows"].append(
                        RowResult(name, engine, "", [], [], skipped="the code it measures has not landed").to_json()
                    )
                    continue
                t0 = time.perf_counter()
                print(f"[bench] {engine}: {name} ...", file=sys.stderr, flush=True)
                try:
                    got = await fn(ctx)
                    produced = got if isinstance(got, list) else [got]
                except Exception as exc:
                    if args.strict:
                        raise
                    traceback.print_exc()
                    produced = [RowResult(name, engine, "", [], [], skipped=f"failed: {type(exc).__name__}: {exc}")]
                print(f"[bench] {engine}: {name} done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
                result["rows"].extend(row.to_json() for row in produced)
    result["meta"]["seconds"] = time.time() - started
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    p.add_argument("--scale", type=float, default=1.0, help="scale the bulk sizes (1 = PERFORMANCE.md)")
    p.add_argument("--engines", default="timescaledb,postgres")
    p.add_argument("--server", action="append", metavar="ENGINE=URL", help="use this server (repeatable)")
    p.add_argument("--rows", default="all", help="comma-separated row names, or all")
    p.add_argument("--list", action="store_true", help="list the rows and exit")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    p.add_argument("--strict", action="store_true", help="a failing row fails the run (smoke test)")
    args = p.parse_args(argv)
    configure_logging("warning")  # the in-process projector and stores log per batch at debug/info
    if args.list:
        print("\n".join(all_rows()))
        return 0
    result = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ") + ("-smoke" if args.smoke else "")
    (args.out / f"{stamp}.json").write_text(json.dumps(result, indent=2, default=str))
    md = markdown(result)
    (args.out / f"{stamp}.md").write_text(md)
    print(md)
    failed = [r for r in result["rows"] if r.get("skipped", "") and str(r["skipped"]).startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
