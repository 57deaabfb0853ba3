"""The workflow engine inside `harmonia serve`: reactions on the bus, and a pass over due steps every second.

Off when `HARMONIA_INPROCESS_DISPATCH=false` (then `harmonia worker` runs the engine, as it delivers the outbox).
Several servers and workers may run at once: the engine's leases keep every step to one runner.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette

from ..workflows import engine, reactions

__all__ = ["install"]

log = logging.getLogger("harmonia.workflows")
INTERVAL = 1.0  # a due step starts within about this long of its time


def install(app: Starlette) -> None:
    if not app.state.settings.inprocess_dispatch:
        return
    reactions.install(app.state.db)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                try:
                    ran = await anyio.to_thread.run_sync(engine.run_due, app.state.h)
                except Exception:
                    log.exception("workflow engine pass failed; trying again")
                    ran = 0
                if ran == 0:
                    await anyio.sleep(INTERVAL)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(loop)
            yield
            tasks.cancel_scope.cancel()

    app.state.lifespans.append(lifespan)
