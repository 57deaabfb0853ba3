"""`make bench --quick`'s promise: the whole harness (dataset, service layer, MCP over HTTP against its floor, wrk,
stdio cold start) runs end to end and records figures. Speed itself is judged in docs/benchmarks.md, not here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_benchmark_harness_runs_end_to_end_in_quick_mode() -> None:
    if shutil.which("wrk") is None and not os.environ.get("CI"):
        pytest.skip("wrk is not installed (apt-get install wrk); .ci/run installs it")
    done = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((ROOT / "bench" / "results" / "quick-2000.json").read_text())
    assert result["tools_list_count"] == 37
    assert all(v["errors"] == 0 for k, v in result["service"].items() if not k.startswith("_"))
    assert result["stdio_cold_start_s"] > 0 and result["floor_stdio_cold_start_s"] > 0
    assert result["throughput"]["harmonia_c16_rps"] > 0 and result["latency"]["floor_mcp_http:floor_get"]["n"] > 0
