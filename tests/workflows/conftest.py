"""Workflows under a ManualClock: the engine, the reactions to events, a real SMTP server and the Twilio fake."""

from __future__ import annotations

from typing import Any

import pytest

from harmonia.clock import ManualClock
from harmonia.db import Database
from harmonia.services import tenancy
from harmonia.workflows import engine, reactions

from ..comms.conftest import afternoon, inprocess_dispatch, providers, reachable, sandbox, smtp  # noqa: F401  (fixtures)
from ..comms.test_providers_and_inbound import twilio  # noqa: F401  (fixture)
from ..conftest import Workspace, root_of


@pytest.fixture
def clock(db: Database) -> ManualClock:
    """15:00 on a Tuesday in New York; the database's rules and the engine read it."""
    manual = ManualClock()
    db.clock = manual
    reactions.install(db)
    return manual


def drain(db: Database, rounds: int = 20) -> int:
    """Run the engine until nothing is due (each pass runs one step per due enrollment)."""
    total = 0
    for _ in range(rounds):
        ran = engine.run_due(root_of(db))
        total += ran
        if ran == 0:
            return total
    raise AssertionError("the engine never settled")


def outbound(ws: Workspace, on: bool) -> None:
    tenancy.set_outbound(ws.db, ws.slug, on, actor=ws.owner_actor("cli"), reason="test")


def sequence(ws: Workspace, steps: list[dict[str, Any]], **kw: Any) -> str:
    """An active sequence, saved by a person at the command line."""
    wf = ws.call("workflows_upsert", ws.actor(channel="cli"), name=kw.pop("name", "Follow-up"), kind="sequence",
                 steps=steps, active=True, **kw)  # fmt: skip
    return str(wf["id"])


def enrollment(ws: Workspace, enrollment_id: str) -> dict[str, Any]:
    items = ws.call("enrollments_list")["items"]
    return next(e for e in items if e["id"] == enrollment_id)
