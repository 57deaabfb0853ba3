"""How the indexed gets grow with the dataset when the records asked for are spread over the whole workspace.

`python -m bench.gets_growth [--scales 10000,1000000] [--calls 600]`: for each cached dataset of `python -m bench`
(bench/.cache), `contacts_get` and `opportunities_get` through the composition root's `invoke`, each call for a record
chosen at random among *all* the bench tenant's contacts (up to 200,000) or deals, interleaved, after the file was
read into the OS page cache. The harness's workload draws from a small pool of ids, so its pages stay in SQLite's own
cache; this one reaches pages that are not there, which is what a large workspace's readers do. Prints one JSON
object; bench/results/gets-growth.json keeps it.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from typing import Any

from .__main__ import build_dataset, warm_page_cache
from .report import write_json
from .stats import percentile


def measure(scale: int, calls: int) -> dict[str, Any]:
    from harmonia.bootstrap import bootstrap
    from harmonia.db import Database
    from harmonia.services.tenancy import get_tenant, owner_actor

    path, _ = build_dataset(scale)
    warm_page_cache(path)
    db = Database(f"sqlite:///{path}")
    tenant = get_tenant(db, "bench").id
    actor = owner_actor(db, tenant, channel="mcp")
    h = bootstrap(db=db)
    with sqlite3.connect(path) as raw:
        pools = {
            "contacts_get": ("contact_id", [r[0] for r in raw.execute(
                "SELECT id FROM contacts WHERE tenant_id = ? LIMIT 200000", (tenant,))]),
            "opportunities_get": ("opportunity_id", [r[0] for r in raw.execute(
                "SELECT id FROM opportunities WHERE tenant_id = ?", (tenant,))]),
        }  # fmt: skip
    rng = random.Random(scale)
    samples: dict[str, list[float]] = {tool: [] for tool in pools}
    for i in range(calls + 100):  # the first 100 of each warm the compiled statements
        for tool, (key, ids) in pools.items():
            started = time.perf_counter()
            h.invoke(actor, tool, {key: rng.choice(ids)})
            if i >= 100:
                samples[tool].append((time.perf_counter() - started) * 1000)
    h.close()
    db.dispose()
    return {
        tool: {"records": len(pools[tool][1]), "p50": percentile(ms, 0.5), "p90": percentile(ms, 0.9)}
        for tool, ms in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gets_growth")
    parser.add_argument("--scales", default="10000,1000000")
    parser.add_argument("--calls", type=int, default=600)
    args = parser.parse_args()
    result: dict[str, Any] = {str(s): measure(s, args.calls) for s in (int(x) for x in args.scales.split(","))}
    first, last = next(iter(result.values())), list(result.values())[-1]
    result["growth_p50"] = {tool: last[tool]["p50"] / first[tool]["p50"] for tool in first}
    write_json(result, "gets-growth")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
