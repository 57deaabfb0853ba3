"""A PostgreSQL dataset and server processes for the scale-out and soak benchmarks (`python -m bench scaleout|soak`).

The dataset is the demo seed's generator, as for SQLite (`bench/__main__.py`): tenants `bench` (40%) and `other`
(60%), migrated and seeded as the owner, served as the application role `harmonia_app` (row-level security on).
It is kept between runs in the database `harmonia_bench_<scale>`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from .workload import Pools

PY_BIN = Path(os.sys.executable).parent  # type: ignore[attr-defined]
HARMONIA = str(PY_BIN / "harmonia")
ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SECRET_KEY = "bench-shared-secret-key-for-every-process-0123456789"


def urls(scale: int) -> tuple[str, str]:
    name = f"harmonia_bench_{scale}"
    return (
        f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
        f"postgresql+psycopg://harmonia_app@127.0.0.1:5432/{name}",
    )


def dataset(scale: int) -> tuple[str, str, float]:
    """(owner url, app url, seed seconds): a migrated, seeded database, built once per scale."""
    from harmonia.db import Database
    from harmonia.migrate import upgrade
    from harmonia.seed import seed_demo
    from harmonia.services.tenancy import create_tenant

    owner, app = urls(scale)
    name = owner.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            with psycopg.connect(ADMIN.replace("dbname=postgres", f"dbname={name}")) as db:
                done = db.execute("SELECT to_regclass('bench_seeded')").fetchone()
            if done and done[0]:
                return owner, app, 0.0
            conn.execute(f'DROP DATABASE "{name}"')  # a build that did not finish
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(owner)
    db = Database(owner)
    create_tenant(db, "bench", owner_email="owner@bench.test")
    create_tenant(db, "other", owner_email="owner@other.test")
    t0 = time.perf_counter()
    seed_demo(db, "other", scale=scale - scale * 4 // 10, seed=2, progress=scale >= 100_000)
    seed_demo(db, "bench", scale=scale * 4 // 10, seed=1, progress=scale >= 100_000)
    seconds = time.perf_counter() - t0
    db.dispose()
    with psycopg.connect(ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute("ANALYZE")
        conn.execute("CREATE TABLE bench_seeded (seconds float)")
        conn.execute("INSERT INTO bench_seeded VALUES (%s)", (seconds,))
    return owner, app, seconds


def pools(owner_url: str, tenant_slug: str = "bench", n: int = 2000) -> Pools:
    """`Pools.load` for PostgreSQL."""
    dsn = owner_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT id FROM tenants WHERE slug = %s", (tenant_slug,)).fetchone()
        assert row is not None
        tenant_id = row[0]

        def col(sql: str) -> list[Any]:
            return [r[0] for r in conn.execute(sql, (tenant_id, n)) if r[0]]  # type: ignore[call-overload]

        return Pools(
            contact_ids=col("SELECT id FROM contacts WHERE tenant_id = %s ORDER BY random() LIMIT %s"),
            opportunity_ids=col("SELECT id FROM opportunities WHERE tenant_id = %s ORDER BY random() LIMIT %s"),
            first_names=col("SELECT first_name FROM contacts WHERE tenant_id = %s ORDER BY random() LIMIT %s"),
            emails=col(
                "SELECT email FROM contacts WHERE tenant_id = %s AND email IS NOT NULL ORDER BY random() LIMIT %s"
            ),
            phones=col(
                "SELECT phone FROM contacts WHERE tenant_id = %s AND phone IS NOT NULL ORDER BY random() LIMIT %s"
            ),
            companies=col("SELECT name FROM accounts WHERE tenant_id = %s ORDER BY random() LIMIT %s"),
            emailable=col(
                "SELECT id FROM contacts WHERE tenant_id = %s AND email IS NOT NULL AND NOT dnd "
                "AND email_consent = 'subscribed' ORDER BY random() LIMIT %s"
            ),
        )


def token_and_outbound(owner_url: str) -> str:
    """An all-scope token of tenant `bench`, with outbound on and a send budget the soak cannot exhaust."""
    from harmonia.bootstrap import bootstrap
    from harmonia.db import Database
    from harmonia.services.tenancy import create_token, get_tenant, owner_actor, set_outbound

    db = Database(owner_url)
    tenant = get_tenant(db, "bench")
    if not tenant.outbound_enabled:
        set_outbound(db, "bench", True, actor=owner_actor(db, tenant.id, channel="cli"), reason="benchmark")
    h = bootstrap(db=db)
    h.invoke(
        owner_actor(db, tenant.id, channel="mcp"), "settings_update", {"send_budget_per_hour": {"email": 1_000_000}}
    )
    token = create_token(db, "bench", "owner@bench.test", ["mcp:read", "mcp:write", "mcp:comms", "mcp:admin"]).secret
    h.close()
    db.dispose()
    return token


def env(app_url: str, **extra: str) -> dict[str, str]:
    return dict(os.environ, HARMONIA_DATABASE_URL=app_url, HARMONIA_SECRET_KEY=SECRET_KEY, **extra)


def start(args: list[str], environment: dict[str, str], port: int | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([HARMONIA, *args], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if port is not None:
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            proc.kill()
            raise RuntimeError(f"harmonia {' '.join(args)} did not answer on {port} within 120 s")
    return proc


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    import signal

    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mb(pid: int) -> float:
    """The process's RSS plus its children's (uvicorn's worker processes)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return round(total, 1)
