"""`harmonia worker`: delivers the outbox (queued messages of every workspace) through the gate."""

from __future__ import annotations

import signal
import sys
import time

from ..config import get_settings
from ..db import Database
from ..services.comms import dispatch_due
from ..workflows.engine import run_due as run_workflow_steps


def run_worker(*, once: bool = False, interval: float = 1.0) -> None:
    db = Database(get_settings().database_url)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop:
            n = dispatch_due(db) + run_workflow_steps(db)  # the outbox, then due workflow steps
            if once:
                sys.stdout.write(f"delivered or settled {n} message(s)\n")
                return
            if n == 0:
                time.sleep(interval)
    finally:
        db.dispose()
