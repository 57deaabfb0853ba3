"""The `reports` toolset at scale (issue 18: ≤ 10 ms p99 at 1M contacts, bytes per result reported).

`python -m bench.reports [--scales 100000,1000000] [--calls 300]` builds or reuses the cached datasets of
`python -m bench` (bench/.cache), then calls `reports_pipeline` and `reports_lenders` through the composition root's
`invoke` (validation, the unit of work, the read audit) with the argument shapes of `workload.REPORTS`, after a
warm-up, and prints p50/p90/p99 and the bytes of each result as one JSON object per scale (docs/benchmarks.md
quotes it; bench/results/reports-<scale>.json keeps it).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from .__main__ import build_dataset, warm_page_cache
from .report import ROOT
from .stats import percentile
from .workload import REPORTS, Pools, Workload


def measure(scale: int, calls: int) -> dict[str, Any]:
    from harmonia.bootstrap import bootstrap
    from harmonia.db import Database
    from harmonia.services.tenancy import get_tenant, owner_actor

    path, _ = build_dataset(scale)
    warm_page_cache(path)
    db = Database(f"sqlite:///{path}")
    actor = owner_actor(db, get_tenant(db, "bench").id, channel="mcp")
    h = bootstrap(db=db)
    work = Workload(Pools.load(str(path)))
    out: dict[str, Any] = {"scale": scale}
    # reports_activity beside them: the same machine and moment, so a loaded machine shows as the baseline's slowdown
    for kind, tool in [*REPORTS, ("reports_activity", "reports_activity")]:
        for _ in range(20):  # warm-up: compiled statements, the page cache
            h.invoke(actor, tool, work.args(kind))
        ms, sizes = [], []
        for _ in range(calls):
            args = work.args(kind)
            t0 = time.perf_counter_ns()
            result = h.invoke(actor, tool, args)
            ms.append((time.perf_counter_ns() - t0) / 1e6)
            sizes.append(len(json.dumps(result.model_dump(mode="json", exclude_none=True), separators=(",", ":"))))
        out[kind] = {"tool": tool, "n": len(ms), "p50": round(percentile(ms, 0.5), 2),
                     "p90": round(percentile(ms, 0.9), 2), "p99": round(percentile(ms, 0.99), 2),
                     "bytes": sorted(sizes)[len(sizes) // 2]}  # fmt: skip
    with db.engine.connect() as conn:
        for table in ("stage_changes", "submissions", "stage_flow_counts", "lender_outcome_counts"):
            out[f"rows_{table}"] = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
    h.close()
    db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reports")
    parser.add_argument("--scales", default="100000,1000000")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    for scale in (int(s) for s in args.scales.split(",")):
        result = measure(scale, args.calls)
        (ROOT / "bench" / "results" / f"reports-{scale}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
