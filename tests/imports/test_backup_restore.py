"""docs/deploy.md's backup and restore, done as written: SQLite's online backup (the running database stays
open) and pg_dump/pg_restore; the restored copy holds every record of the workspace (its full export is equal)."""

from __future__ import annotations

import io
import sqlite3
import subprocess
from pathlib import Path

from harmonia.db import Database
from harmonia.services import export

from .. import pg
from ..conftest import Workspace


def _fill(ws: Workspace) -> None:
    ws.call("imports_start", content="First Name,Email,Company,Tags\nAnn,ann@lee.example,Lee Bakery,vip\n"
                                     "Bob,bob@ray.example,Ray Trucking,\n")  # fmt: skip
    contact = ws.call("contacts_create", first_name="Cy", email="cy@po.example")
    ws.call("notes_create", record_type="contact", record_id=contact["id"], body="called about the advance")
    ws.call(
        "tasks_create",
        title="Send the application",
        record_type="contact",
        record_id=contact["id"],
        due_at="2030-01-02T15:00:00Z",
    )


def _everything(db: Database, ws: Workspace) -> bytes:
    out = io.BytesIO()
    export.write(db, ws.owner_actor(), "jsonl", out)
    return out.getvalue()


def test_a_restored_backup_holds_every_record(db: Database, acme: Workspace, tmp_path: Path) -> None:
    _fill(acme)
    before = _everything(db, acme)
    if db.is_sqlite:
        live = db.url.split("///", 1)[1]
        backup = tmp_path / "backup.db"
        with sqlite3.connect(live) as source, sqlite3.connect(backup) as target:
            source.backup(target)  # what `sqlite3 harmonia.db ".backup backup.db"` does, while Harmonia runs
        restored = Database(f"sqlite:///{backup}")
    else:
        port, live = db.engine.url.port or 5432, db.engine.url.database
        name = pg.new_database_name("harmonia_restore")
        dump = tmp_path / "harmonia.dump"
        base = ["-h", "127.0.0.1", "-p", str(port), "-U", pg.ADMIN_USER]
        subprocess.run(["pg_dump", *base, "-Fc", "-f", str(dump), str(live)], check=True, timeout=120)
        pg.admin(port, f"CREATE DATABASE {name}")
        subprocess.run(["pg_restore", *base, "-d", name, "--no-owner", str(dump)], check=True, timeout=120)
        restored = Database(f"postgresql+psycopg://harmonia_app@127.0.0.1:{port}/{name}", pool_size=1)
    try:
        assert _everything(restored, acme) == before
        assert b'"type":"contacts"' in before and b"called about the advance" in before
    finally:
        restored.dispose()
        if not db.is_sqlite:
            pg.admin(port, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
