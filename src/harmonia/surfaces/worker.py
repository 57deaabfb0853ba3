"""`harmonia worker`: delivers the outbox (to be built with the comms gate)."""

from __future__ import annotations


def run_worker(*, once: bool = False) -> None:
    raise SystemExit("harmonia worker: the outbox dispatcher is not built yet")
