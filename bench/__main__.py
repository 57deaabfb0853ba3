"""Entry point of `make bench` (to be built)."""

raise SystemExit("the benchmark harness is not built yet")
