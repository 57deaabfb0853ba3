"""`harmonia worker`: delivers the outbox (queued messages of every workspace) through the gate.

One message at a time, no transaction open while a provider works (services/comms.py). A failure of one message is
that message's (`failed` with its reason); a failure of the worker's own (the database restarting) is logged and the
loop goes on — nothing it held is lost: its leases run out.
"""

from __future__ import annotations

import logging
import signal
import sys
import time

from ..bootstrap import bootstrap
from ..config import get_settings
from ..services.comms import dispatch_due, dispatcher_id
from ..services.jobs import run_due
from ..workflows.engine import run_due as run_workflow_steps

log = logging.getLogger("harmonia.worker")


def run_worker(*, once: bool = False, interval: float = 1.0) -> None:
    # The worker delivers from the outbox; it never dispatches in-process on its own writes.
    h = bootstrap(get_settings().model_copy(update={"inprocess_dispatch": False}))
    db, providers = h.db, h.providers
    owner = dispatcher_id()
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop:
            try:
                n = dispatch_due(db, providers, owner=owner)
                n += run_due(db)  # queued imports, and jobs whose runner died
                n += run_workflow_steps(h)  # due workflow steps
            except Exception:  # e.g. the database is restarting: try again shortly, never exit
                log.exception("dispatch pass failed; retrying")
                n = 0
            if once:
                sys.stdout.write(f"delivered or settled {n} message(s)\n")
                return
            if n == 0:
                time.sleep(interval)
    finally:
        h.close()
