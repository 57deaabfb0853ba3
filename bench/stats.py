"""Interleaved, shuffled measurement rounds and percentile summaries.

The machine is shared and noisy: variants compared with each other are measured in the same process, in shuffled
order within every round, so drift hits them alike. Report medians and ratios, keep per-round values.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Samples", "interleave", "percentile"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Samples:
    """Latencies of one variant, in milliseconds."""

    name: str
    ms: list[float] = field(default_factory=list)
    per_round_p50: list[float] = field(default_factory=list)
    errors: int = 0
    response_bytes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "n": len(self.ms),
            "p50": percentile(self.ms, 0.50),
            "p90": percentile(self.ms, 0.90),
            "p99": percentile(self.ms, 0.99),
            "rounds_p50": [round(v, 4) for v in self.per_round_p50],
            "errors": self.errors,
            "bytes": int(statistics.median(self.response_bytes)) if self.response_bytes else None,
        }


async def interleave(
    variants: dict[str, Callable[[], Awaitable[int | None]]],
    *,
    rounds: int,
    per_round: int,
    warmup: int = 20,
    seed: int = 7,
) -> dict[str, Samples]:
    """Call each variant `per_round` times per round, variants in a new shuffled order every round.

    A variant returns the size in bytes of its response (or None). Exceptions count as errors, not samples.
    """
    rng = random.Random(seed)
    out = {name: Samples(name) for name in variants}
    for name, call in variants.items():
        for _ in range(warmup):
            try:
                await call()
            except Exception:
                out[name].errors += 1
    for _ in range(rounds):
        order = list(variants)
        rng.shuffle(order)
        for name in order:
            call = variants[name]
            round_ms: list[float] = []
            for _ in range(per_round):
                t0 = time.perf_counter_ns()
                try:
                    size = await call()
                except Exception:
                    out[name].errors += 1
                    continue
                dt = (time.perf_counter_ns() - t0) / 1e6
                round_ms.append(dt)
                if size is not None:
                    out[name].response_bytes.append(size)
            out[name].ms.extend(round_ms)
            if round_ms:
                out[name].per_round_p50.append(percentile(round_ms, 0.5))
    return out
