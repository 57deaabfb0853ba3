"""Engine, tenant-bound sessions and the unit of work. Tenant isolation lives here, and only here.

A unit of work is opened *for* one tenant. Three hooks make it impossible for a service to touch another tenant's
rows, whatever query it writes through the ORM:

- `do_orm_execute` adds `tenant_id = :tenant` to every ORM SELECT, UPDATE and DELETE (with_loader_criteria, which
  also reaches relationship loads and aliases);
- the same hook stamps or checks `tenant_id` on ORM bulk INSERTs;
- `before_flush` stamps new rows with the tenant (and the actor's provenance) and refuses a row of another tenant.

A session with no tenant refuses every ORM statement on tenant tables: fail closed. Compiled queries (`queries.py`,
the hot read paths) run on the unit's driver connection and carry their own structural check: every tenant table they
name must be constrained to the tenant, whose value only the unit of work binds. On PostgreSQL the transaction
also runs `set_config('app.tenant_id', …, true)` so row-level security is a second wall (see migrations).
On SQLite, write units start with `BEGIN IMMEDIATE`, so writers queue instead of failing on lock upgrade.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria
from sqlalchemy.pool import StaticPool

from . import bulk, fulltext
from .clock import Clock, SystemClock
from .events import DomainEvent, EventBus
from .models.base import TenantOwned, TenantScoped
from .vault import Vault

__all__ = [
    "Actor",
    "Database",
    "OverBudget",
    "TenantIsolationError",
    "UnitOfWork",
    "is_on_the_loop",
    "on_the_loop",
    "tenant_table_names",
]

_log = logging.getLogger("harmonia.db")

# Through what an actor acts; the one list (the audit log's `channel` filter offers it in this order).
CHANNELS = ("ui", "api", "workflow", "mcp", "cli", "system")


class TenantIsolationError(RuntimeError):
    """A programming error: code tried to cross the tenant wall. Never shown to callers as-is."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, through which channel. Every write and every audit row carries one."""

    tenant_id: str
    channel: str
    user_id: str | None = None
    role: str | None = None
    token_id: str | None = None
    client: str | None = None  # token name or the AI client's name
    scopes: frozenset[str] = field(default_factory=frozenset)
    request_id: str | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")


class Database:
    """One per process: the engine and the session factories."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 5,
        clock: Clock | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()  # what "now" means for every rule that reads the time
        # The secrets vault (keys: HARMONIA_SECRETS_KEYS, set by the composition root); without keys it refuses to store.
        self.vault = Vault(None)
        self.bus = bus or EventBus()  # after commit, a unit's domain events are handed to these handlers
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if ":memory:" in url or url.rstrip("/") == "sqlite:":
                kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        else:
            _configure_postgres(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._local = threading.local()
        self.before_dispose: list[Callable[[], None]] = []  # e.g. writing the queued read audits

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def unit_of_work(self, actor: Actor, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(self, actor, write=write)

    @contextmanager
    def system_session(self, *, write: bool = True) -> Iterator[Session]:
        """An unscoped session for the few places that work above tenants: tenant creation, token parsing."""
        session = self._sessions(info={"system": True})
        session.connection(execution_options={"harmonia_write": write, "harmonia_system": True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        for hook in self.before_dispose:
            hook()
        self.engine.dispose()

    def analyze(self) -> None:
        """Gather SQLite's planner statistics after a bulk load (the demo seed, an import). PostgreSQL's autovacuum
        does this itself, and the application role, which owns no table, may not."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


class OverBudget(Exception):
    """A read tried on the event loop (`on_the_loop`) that must run on the thread pool instead: a statement ran past
    its time bound, or the read needs the ORM session or a write, which the bound does not cover. Nothing was
    written; run it again on a worker thread. `args[0]` says which: `NEEDS_ORM`, `WRITES` or a timing message."""

    NEEDS_ORM = "the ORM session is not bounded on the event loop"
    WRITES = "a write unit of work does not run on the event loop"


_loop_budget: ContextVar[float | None] = ContextVar("harmonia_loop_budget", default=None)


@contextmanager
def on_the_loop(seconds: float) -> Iterator[None]:
    """Run the read units of work opened inside on the caller's thread, each statement bounded by `seconds`
    (PostgreSQL's statement_timeout; SQLite's progress handler, checked every 100 virtual-machine steps), raising
    `OverBudget` past it or on anything the bound does not cover (the ORM session, a write unit). For short indexed
    reads served on the event loop without the hop to a worker thread; contextvars keep the bound to this task."""
    token = _loop_budget.set(seconds)
    try:
        yield
    finally:
        _loop_budget.reset(token)


def is_on_the_loop() -> bool:
    """Whether the caller runs inside `on_the_loop` (where nothing may block on a write)."""
    return _loop_budget.get() is not None


class UnitOfWork:
    """A transaction for one tenant. Callbacks registered with `after_commit` run only when it committed.

    The ORM session is opened on first use. A read unit whose handler runs only compiled queries (`queries.Query`)
    never opens one: it reads on a pooled driver connection of its own, in its own read transaction (on PostgreSQL
    with the same `app.tenant_id` setting). A read unit that uses both sees two read transactions — the same
    guarantee as READ COMMITTED, never a mix of tenants. A write unit runs everything on the session's connection."""

    def __init__(self, db: Database, actor: Actor, *, write: bool) -> None:
        self.db = db
        self.actor = actor
        self.tenant_id = actor.tenant_id
        self.write = write
        self._after_commit: list[Callable[[], None]] = []
        self._events: list[DomainEvent] = []
        self._session: Session | None = None
        self._raw: Any = None  # the pooled driver connection of a read unit's compiled queries
        self._open = False
        self._budget = _loop_budget.get()  # seconds per statement when on the event loop (on_the_loop)
        if self._budget is not None and write:
            raise OverBudget(OverBudget.WRITES)

    def now(self) -> datetime:
        """The unit's clock (the database's): quiet hours, leases, expiries read this, never `datetime.now()`."""
        return self.db.clock.now()

    @property
    def session(self) -> Session:
        if not self._open:
            raise RuntimeError("unit of work used outside its `with` block")
        if self._session is None:
            if self._budget is not None:
                raise OverBudget(OverBudget.NEEDS_ORM)
            self._session = self.db._sessions(info={"tenant_id": self.tenant_id, "actor": self.actor})
            self._session.connection(
                execution_options={"harmonia_write": self.write, "harmonia_tenant": self.tenant_id}
            )
        return self._session

    def execute_driver(self, sql: str, params: Any) -> tuple[list[Any], Any]:
        """Run compiled SQL on this unit's driver connection: the raw rows and the cursor's description."""
        driver: Any
        if self.write or self._session is not None:
            session = self.session
            session.flush()  # what the ORM's autoflush would do: a query sees the unit's own pending rows
            driver = session.connection().connection.driver_connection
        else:
            if self._raw is None:
                if not self._open:
                    raise RuntimeError("unit of work used outside its `with` block")
                self._raw = self.db.engine.raw_connection()
                _begin_driver(self.db.dialect, self._raw.driver_connection, self.tenant_id, self._budget)
            driver = self._raw.driver_connection
        cursor = driver.cursor()
        try:
            if self._budget is not None and self.db.dialect == "sqlite":
                # Wall time, as the loop sees it (the thread's CPU time would ignore preemption, but reading it
                # costs milliseconds on this VM; a statement preempted past the bound just runs again on a thread)
                deadline = time.perf_counter() + self._budget
                driver.set_progress_handler(lambda: time.perf_counter() > deadline, 100)
            cursor.execute(sql, params)
            return cursor.fetchall(), cursor.description
        except Exception as error:
            if self._budget is not None and _interrupted(error):
                raise OverBudget(f"a statement ran past {self._budget * 1000:.0f} ms on the event loop") from None
            raise
        finally:
            cursor.close()

    def __enter__(self) -> UnitOfWork:
        self._open = True
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        session, raw = self._session, self._raw
        self._open, self._session, self._raw = False, None, None
        try:
            if session is not None:
                try:
                    if exc_type is None:
                        session.commit()
                    else:
                        session.rollback()
                finally:
                    session.close()
        finally:
            if raw is not None:
                try:
                    if self._budget is not None and self.db.dialect == "sqlite":
                        raw.driver_connection.set_progress_handler(None, 0)
                    _end_driver(self.db.dialect, raw.driver_connection, commit=exc_type is None)
                finally:
                    raw.close()  # back to the pool
        if exc_type is None:
            self._handout()

    def _handout(self) -> None:
        """After commit: the events to the bus, then the callbacks. Each is isolated — a failure here is logged and
        never reported as a failure of the change, which is already committed."""
        events, callbacks = self._events, self._after_commit
        self._events, self._after_commit = [], []
        if events:
            self.db.bus.publish(events)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                _log.exception("after-commit callback failed (the change itself is committed)")

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def emit(self, name: str, subject: tuple[str, str] | None = None, **data: Any) -> DomainEvent:
        """Record a domain event in this transaction; it is handed to the bus's handlers once the unit commits."""
        if not self.write:
            raise RuntimeError("domain events are written by write units of work")
        from .ids import new_id
        from .models import DomainEventRow

        kind, subject_id = subject if subject else (None, None)
        event = DomainEvent(id=new_id("domain_event"), name=name, tenant_id=self.tenant_id, at=self.now(),
                            subject_type=kind, subject_id=subject_id, data=data, actor_user_id=self.actor.user_id,
                            channel=self.actor.channel, client=self.actor.client)  # fmt: skip
        self.session.add(DomainEventRow(id=event.id, at=event.at, name=name, subject_type=kind, subject_id=subject_id,
                                        data=data, actor_user_id=event.actor_user_id, channel=event.channel,
                                        client=event.client))  # fmt: skip
        self._events.append(event)
        return event

    def flush(self) -> None:
        self.session.flush()


def _begin_driver(dialect: str, driver: Any, tenant_id: str, budget: float | None = None) -> None:
    """Open a read transaction on a bare driver connection, as the engine's `begin` hooks do for sessions; with a
    `budget` (seconds, on the event loop) PostgreSQL bounds each statement of the transaction, in the same round trip."""
    if dialect == "sqlite":
        driver.execute("BEGIN")
    elif budget is None:
        with driver.cursor() as cur:
            cur.execute("SELECT set_config('app.tenant_id', %(t)s, true)", {"t": tenant_id})
    else:
        with driver.cursor() as cur:
            cur.execute("SELECT set_config('app.tenant_id', %(t)s, true), set_config('statement_timeout', %(ms)s, true)",
                        {"t": tenant_id, "ms": str(max(1, round(budget * 1000)))})  # fmt: skip


def _interrupted(error: Exception) -> bool:
    """SQLite's progress handler stopped the statement, or PostgreSQL's statement_timeout cancelled it."""
    if type(error).__name__ == "QueryCanceled":  # psycopg.errors.QueryCanceled, without importing psycopg here
        return True
    return type(error).__name__ == "OperationalError" and "interrupted" in str(error)


def _end_driver(dialect: str, driver: Any, *, commit: bool) -> None:
    if dialect == "sqlite":
        if driver.in_transaction:
            driver.execute("COMMIT" if commit else "ROLLBACK")
    elif commit:
        driver.commit()
    else:
        driver.rollback()


# --- the tenant wall -------------------------------------------------------------------------------------------


@event.listens_for(Session, "do_orm_execute")
def _scope_statement_to_tenant(state: ORMExecuteState) -> None:
    info = state.session.info
    if info.get("system"):
        return
    tenant_id = info.get("tenant_id")
    if tenant_id is None:
        if _touches_tenant_tables(state):
            raise TenantIsolationError("ORM statement on tenant tables outside a tenant unit of work")
        return
    if state.is_insert:
        _check_insert_params(state, tenant_id)
        return
    if state.is_select:
        _refuse_core_columns(state)
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(TenantOwned, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
        )


def _refuse_core_columns(state: ORMExecuteState) -> None:
    """`select(Contact.__table__.c.email)` names no ORM entity, so the criteria cannot reach it: refuse it."""
    for desc in getattr(state.statement, "column_descriptions", None) or []:
        expr = desc.get("expr")
        name = getattr(getattr(expr, "table", None), "name", None)
        if desc.get("entity") is None and name in tenant_table_names():
            raise TenantIsolationError(f"Core column of tenant table {name!r}; select ORM attributes instead")


def tenant_table_names() -> frozenset[str]:
    """Names of the tables whose rows belong to a tenant."""
    global _tenant_tables
    if _tenant_tables is None:
        from .models import Base

        _tenant_tables = frozenset(
            str(getattr(m.local_table, "name", "")) for m in Base.registry.mappers if issubclass(m.class_, TenantOwned)
        )
    return _tenant_tables


_tenant_tables: frozenset[str] | None = None


def _touches_tenant_tables(state: ORMExecuteState) -> bool:
    for desc in getattr(state.statement, "column_descriptions", None) or []:
        entity = desc.get("entity")
        if entity is not None and isinstance(entity, type) and issubclass(entity, TenantOwned):
            return True
    mapper = state.bind_mapper
    return mapper is not None and issubclass(mapper.class_, TenantOwned)


def _check_insert_params(state: ORMExecuteState, tenant_id: str) -> None:
    mapper = state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, TenantOwned):
        return
    params: Any = state.parameters
    rows: list[dict[str, Any]] = params if isinstance(params, list) else [params] if params else []
    for row in rows:
        found = row.setdefault("tenant_id", tenant_id)
        if found != tenant_id:
            raise TenantIsolationError("bulk insert of a row that belongs to another tenant")


@event.listens_for(Session, "before_flush")
def _stamp_and_check_rows(session: Session, flush_context: object, instances: object) -> None:
    info = session.info
    if info.get("system"):
        return
    tenant_id = info.get("tenant_id")
    actor: Actor | None = info.get("actor")
    for obj in session.new:
        if not isinstance(obj, TenantOwned):
            continue
        if tenant_id is None:
            raise TenantIsolationError("new tenant row outside a tenant unit of work")
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantIsolationError("new row belongs to another tenant")
        if isinstance(obj, TenantScoped) and actor is not None and obj.created_via is None:
            obj.created_by = obj.created_by or actor.user_id
            obj.created_via = actor.channel
            obj.created_client = actor.client
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, TenantOwned) and obj.tenant_id != tenant_id:
            raise TenantIsolationError("change to a row of another tenant")


# --- dialect setup ---------------------------------------------------------------------------------------------


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see below)
        fulltext.register(dbapi_connection)  # SQL functions the upkeep triggers call (fulltext.py, bulk.py)
        bulk.register(dbapi_connection)
        cur = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            "cache_size=-16384",  # 16 MB per connection; the mmap below serves most reads
            # Map up to 2 GB of the file (the usual build's ceiling, SQLITE_MAX_MMAP_SIZE): a page outside SQLite's
            # own cache is then a memory read, not a pread() system call. At 1M contacts (a 3.2 GB file) a random
            # deal took 0.68 ms with 256 MB mapped and 0.27 ms with 2 GB (docs/benchmarks.md). The mapped pages are
            # the OS page cache, shared by every process and reclaimable; they count in RSS as file-backed memory.
            "mmap_size=2147418112",
            "temp_store=MEMORY",
            # Refresh the planner's statistics when they are missing or stale (cheap: analysis_limit). Without
            # them SQLite picks the index that matches ORDER BY and scans a whole tenant: contacts_get took 80 ms
            # at 1M contacts instead of 3 (docs/benchmarks.md).
            "optimize=0x10002",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("harmonia_write", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        tenant_id = conn.get_execution_options().get("harmonia_tenant")
        # Transaction-scoped: a pooled connection can never carry a tenant into the next request.
        conn.exec_driver_sql("SELECT set_config('app.tenant_id', %(t)s, true)", {"t": tenant_id or ""})
        if conn.get_execution_options().get("harmonia_system"):  # the tenants table's system policy (0011)
            conn.exec_driver_sql("SELECT set_config('app.system', 'on', true)")
