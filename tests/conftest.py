"""Shared fixtures: a migrated database per test, two tenants, actors, and `call()` through the registry.

The schema is migrated once per session (Alembic, the real migrations) into a template; each test gets a copy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harmonia.bootstrap import Harmonia, bootstrap
from harmonia.config import Settings
from harmonia.db import Actor, Database
from harmonia.migrate import upgrade
from harmonia.models import SCOPES
from harmonia.services.tenancy import create_tenant, owner_actor

from . import pg


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


BACKENDS = [b.strip() for b in os.environ.get("HARMONIA_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[int, str]]:
    port = pg.server_port()
    if port is None:
        if os.environ.get("CI"):
            pytest.fail("CI=true and no PostgreSQL could be reached or started (install the postgresql package)")
        pytest.skip("no PostgreSQL here (none on 127.0.0.1:5432 and no server binaries to start one)")
    name = pg.new_database_name("harmonia_tpl")
    pg.admin(port, f"CREATE DATABASE {name}")
    with pg.cluster_lock():  # parallel workers: the first migration creates the cluster-wide role, once
        upgrade(f"postgresql+psycopg://{pg.ADMIN_USER}@127.0.0.1:{port}/{name}")
    yield port, name
    pg.admin(port, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_ROOTS: dict[int, Harmonia] = {}


def root_of(db: Database) -> Harmonia:
    """The test's composition root over `db` (built once per database by the `db` fixture)."""
    if id(db) not in _ROOTS:
        # Test roots do not deliver on their own: tests that send opt in (tests/comms' `inprocess_dispatch`).
        _ROOTS[id(db)] = bootstrap(Settings(database_url=db.url, inprocess_dispatch=False), db=db)
    return _ROOTS[id(db)]


def _close_root(db: Database) -> None:
    root = _ROOTS.pop(id(db), None)
    if root is not None:
        root.close()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "harmonia.db"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite:///{path}")
        yield database
        _close_root(database)
        database.dispose()
        return
    port, template = request.getfixturevalue("pg_template")
    name = pg.new_database_name("harmonia_t")
    pg.admin(port, f"CREATE DATABASE {name} TEMPLATE {template}")
    database = Database(f"postgresql+psycopg://harmonia_app@127.0.0.1:{port}/{name}", pool_size=2)
    yield database
    _close_root(database)
    database.dispose()
    pg.admin(port, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def h(db: Database) -> Harmonia:
    """The composition root the tests act through (the same parts `harmonia serve` builds)."""
    return root_of(db)


class Workspace:
    """A tenant with its owner, and helpers to act in it."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.h = root_of(db)
        self.tenant, owner = create_tenant(db, name, owner_email=f"owner@{name.lower().replace(' ', '')}.test")
        assert owner is not None
        self.owner = owner
        self.id = self.tenant.id
        self.slug = self.tenant.slug

    def actor(self, scopes: tuple[str, ...] | frozenset[str] = SCOPES, channel: str = "mcp", **kw: Any) -> Actor:
        return Actor(
            tenant_id=self.id,
            channel=channel,
            user_id=kw.pop("user_id", self.owner.id),
            role=kw.pop("role", "owner"),
            scopes=frozenset(scopes),
            client=kw.pop("client", "test client"),
            **kw,
        )

    def owner_actor(self, channel: str = "cli") -> Actor:
        return owner_actor(self.db, self.id, channel=channel)

    def call(self, name: str, actor: Actor | None = None, /, **arguments: Any) -> dict[str, Any]:
        result = self.h.invoke(actor or self.actor(), name, arguments)
        return result.model_dump(mode="json", exclude_none=True)

    def flush_reads(self) -> None:
        """Write the queued read audits now (they are written in batches)."""
        self.h.reads.flush()


@pytest.fixture
def acme(db: Database) -> Workspace:
    return Workspace(db, "Acme Funding")


@pytest.fixture
def rival(db: Database) -> Workspace:
    return Workspace(db, "Rival Capital")


# --- figures the issues ask the test run to print (probes, leaks, worker counts…) -------------------------------

FIGURES: list[str] = []


@pytest.fixture
def report_figure(request: pytest.FixtureRequest) -> Any:
    """`report_figure("…")` adds a line to the summary printed at the end of the run (visible without -s). The line
    travels in the test's report, so it reaches the summary from pytest-xdist's worker processes too."""

    def add(line: str) -> None:
        request.node.user_properties.append(("figure", line))

    return add


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "call":
        FIGURES.extend(value for key, value in report.user_properties if key == "figure")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Markers by place (browser tests need Chromium), and tests marked `one_backend` — behaviour above the database,
    such as argument validation or the catalogue — run on the first backend only instead of on every one."""
    deselected = []
    for item in list(items):
        if "/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.get_closest_marker("one_backend") and params.get("db") not in (None, BACKENDS[0]):
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if i not in deselected]
    # The long runs (schemathesis, the conformance suites, the benchmark's quick run) go first: with parallel workers
    # (`make test` runs pytest-xdist) a long test handed out last keeps one worker busy after the other has finished.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
