"""schemathesis, with every check, against the OpenAPI document of a running server: 0 failures.

It runs the `st` command as CI and a person would, with the committed `schemathesis.toml`, a fixed seed and a
bounded number of examples per operation, against a seeded workspace on SQLite.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from harmonia.config import Settings
from harmonia.db import Database
from harmonia.ops import build_registry
from harmonia.seed import seed_demo
from harmonia.services.tenancy import create_token
from harmonia.surfaces.app import create_app

from ..conftest import Workspace
from ..mcp.conftest import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
# The operations whose 422 answers schemathesis.toml documents beyond the paged ones (see the reasons there).
RULES_NO_SCHEMA_CAN_SAY = {"accounts_upsert", "calendars_events", "contacts_create", "contacts_update", "imports_start",
                           "email_draft", "email_send", "workflows_upsert", "custom_tools_define",
                           "upstreams_add", "drafts_update", "reports_pipeline", "reports_lenders"}  # fmt: skip


def test_the_422_exceptions_in_schemathesis_toml_are_exactly_the_paged_operations_and_the_documented_rules() -> None:
    config = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    (section,) = config["operations"]
    paged = {op.name for op in build_registry() if op.rest and "cursor" in op.input.model_fields}
    assert set(section["include-operation-id"]) == paged | RULES_NO_SCHEMA_CAN_SAY
    assert "422" in section["checks"]["positive_data_acceptance"]["expected-statuses"]


@pytest.fixture
def acme(sqlite_template: Path, tmp_path: Path) -> Iterator[Workspace]:
    """On SQLite only: the REST layer under test is the same on both databases, and one run takes most of a minute."""
    path = tmp_path / "harmonia.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    yield Workspace(db, "Acme Funding")
    db.dispose()


@pytest.mark.slow
def test_schemathesis_finds_no_failure_with_every_check(acme: Workspace, report_figure: Any) -> None:
    seed_demo(acme.db, acme.slug, scale=60, anchor=date.today())
    token = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read", "mcp:write", "mcp:comms", "mcp:admin"])
    st = str(Path(sys.executable).with_name("st"))
    settings = Settings(database_url=acme.db.url, secret_key="schemathesis-secret-key")
    with serve_in_thread(create_app(settings, acme.db)) as url:
        run = subprocess.run(
            [
                st,
                "run",
                f"{url}/api/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "20",
                "--seed",
                "1",
                "-H",
                f"Authorization: Bearer {token.secret}",
                "--no-color",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    summary = run.stdout[run.stdout.find("SUMMARY") :] if "SUMMARY" in run.stdout else run.stdout[-4000:]
    if run.returncode != 0:  # the whole report, for whoever reads the failure (the assertion shows only its tail)
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        (ROOT / "test-artifacts" / "schemathesis.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, f"schemathesis reported failures:\n{run.stdout[-12000:]}\n{run.stderr[-2000:]}"
    cases = re.search(r"(\d+) generated", summary)
    report_figure(f"schemathesis --checks all: {cases.group(1) if cases else '?'} generated cases, 0 failures")
