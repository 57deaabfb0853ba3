"""The composition root (cosmicpython's `bootstrap()`): everything a process needs, built once, handed to every
surface — `harmonia serve`, `harmonia mcp`, `harmonia worker`, the CLI and the tests.

    settings ─► Database (engine, tenant wall, clock, event bus)
             ├► Registry (the operations, by toolset)
             ├► ReadAudits (the queue of read audit entries; written on close)
             ├► providers (email, SMS, voice, sandbox — reached only through the gate)
             └► executor (the threads database work runs on, off the event loop)

Nothing here is a module global: two `Harmonia`s in one process (a test and its server, two databases) share
nothing. Settings are read here, once; code below receives them. Process-level reactions to domain events are
subscribed here too (`db.bus`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .clock import Clock
from .config import Settings, get_settings
from .db import Actor, Database
from .ops import build_registry
from .ops.registry import Registry
from .services import comms, jobs
from .services.audit import ReadAudits
from .services.byo_catalogue import TenantCatalogue
from .vault import Vault

__all__ = ["Harmonia", "bootstrap"]


@dataclass(eq=False)
class Harmonia:
    settings: Settings
    db: Database
    registry: Registry
    reads: ReadAudits
    executor: ThreadPoolExecutor
    providers: comms.Providers
    owns_db: bool = True
    byo: TenantCatalogue | None = None  # a workspace's own tools and upstream MCP servers (services.byo_catalogue)
    extras: dict[str, Any] = field(default_factory=dict)  # surface-owned parts (e.g. the in-process dispatcher)

    def invoke(self, actor: Actor, name: str, arguments: dict[str, Any] | None = None, *, strict: bool = False) -> Any:
        """Run operation `name` as `actor` — the one way every surface acts. Returns the operation's output model."""
        result: BaseModel = self.registry.invoke(self, actor, name, arguments, strict=strict)
        return result

    def close(self) -> None:
        """Write what is owed (queued read audits), stop the threads, release the database if this root made it."""
        for event, key in (("message_queued", "inprocess_dispatch"), ("job_queued", "inprocess_jobs")):
            handler = self.extras.pop(key, None)
            if handler is not None:
                self.db.bus.unsubscribe(event, handler)
        self.reads.close()
        self.executor.shutdown(wait=True)
        if self.owns_db:
            self.db.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    registry: Registry | None = None,
    providers: comms.Providers | None = None,
    threads: int = 4,
) -> Harmonia:
    """Build a process's parts. Tests pass their own `db` (and `clock`, `providers`); production passes nothing.

    With `HARMONIA_INPROCESS_DISPATCH` (the default) this process delivers what it queues, right after the commit
    (`message_queued`), and runs the jobs it starts (`job_queued`, in a thread); with it off, `harmonia worker`
    does both."""
    settings = settings or get_settings()  # the one place HARMONIA_* is read (cached per process)
    owns_db = db is None
    database = db or Database(settings.database_url, clock=clock)
    if clock is not None:
        database.clock = clock
    if settings.secrets_keys:
        database.vault = Vault(settings.secrets_keys)
    h = Harmonia(
        settings=settings,
        db=database,
        registry=registry or build_registry(),
        reads=ReadAudits(database),
        executor=ThreadPoolExecutor(max_workers=threads, thread_name_prefix="harmonia-db"),
        providers=providers or comms.Providers.from_settings(settings),
        owns_db=owns_db,
        byo=TenantCatalogue(database, max_hops=settings.max_hops, ca_file=settings.egress_ca_file),
    )
    if settings.inprocess_dispatch:  # this process delivers what it queues, and runs the jobs it starts
        h.extras["inprocess_dispatch"] = comms.install_inprocess_dispatch(database, h.providers)
        h.extras["inprocess_jobs"] = jobs.install_inprocess_jobs(database)
    return h
