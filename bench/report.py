"""Writes the results of a run: raw JSON under bench/results/, the summary in docs/benchmarks.md, and the plot."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["machine", "plot_growth", "write_json"]

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    def sh(cmd: str) -> str:
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return "?"

    import importlib.metadata
    import sqlite3

    return {
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
        "cores": sh("nproc"),
        "memory": sh("free -h | awk '/Mem:/ {print $2}'"),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "mcp": importlib.metadata.version("mcp"),
        "git": sh(f"git -C {ROOT} rev-parse --short HEAD"),
    }


def write_json(result: dict[str, Any], name: str) -> Path:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    return path


def plot_growth(growth: dict[str, dict[int, float]], path: Path) -> None:
    """p50 latency (ms) against dataset size, one line per tool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for tool, points in sorted(growth.items()):
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], marker="o", label=tool)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("contacts in the database")
    ax.set_ylabel("p50 latency, service layer (ms)")
    ax.set_title("Harmonia: latency per tool against dataset size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
