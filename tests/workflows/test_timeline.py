"""A contact's and a deal's timeline show the workflow steps that touched them: which workflow, which step, what it
did and why."""

from __future__ import annotations

from typing import Any

from harmonia.clock import ManualClock

from ..conftest import Workspace
from .conftest import drain, sequence


def _steps(ws: Workspace, record_type: str, record_id: str) -> list[dict[str, Any]]:
    items = ws.call("records_timeline", record_type=record_type, record_id=record_id)["items"]
    return [i for i in items if i["kind"] == "workflow_step"]


def test_a_contacts_timeline_shows_each_step_its_runs_took_with_the_workflow_and_the_outcome(
    acme: Workspace, clock: ManualClock
) -> None:
    wf = sequence(acme, [{"action": "tag", "add": ["warm"]}, {"action": "wait", "days": 1},
                         {"action": "if", "field": "state", "equals": "FL"}], name="Warm-up")  # fmt: skip
    rosa = acme.call("contacts_create", first_name="Rosa", email="rosa@example.com")["id"]
    other = acme.call("contacts_create", first_name="Ben", email="ben@example.com", tags=["warm"],
                      create_missing_tags=True)["id"]  # fmt: skip
    acme.call("sequences_enroll", workflow_id=wf, contact_ids=[rosa, other])
    drain(acme.db)
    clock.advance(days=1, minutes=1)
    drain(acme.db)

    steps = _steps(acme, "contact", rosa)
    assert [(s["summary"], s["status"]) for s in steps] == [
        ("Warm-up: step 3, if", "ok"),
        ("Warm-up: step 2, wait", "ok"),
        ("Warm-up: step 1, tag", "ok"),
    ]
    assert steps[0]["detail"] == "condition failed" and {s["via"] for s in steps} == {"workflow"}
    assert len(_steps(acme, "contact", other)) == 3  # her own runs only: Ben's three are on his timeline


def test_a_deals_timeline_shows_the_workflow_step_that_moved_it(acme: Workspace, clock: ManualClock) -> None:
    rosa = acme.call("contacts_create", first_name="Rosa", email="rosa@example.com")["id"]
    deal = acme.call("opportunities_create", name="Rosa's Bakery", contact_id=rosa, amount=40_000)["id"]
    unrelated = acme.call("opportunities_create", name="Other deal", amount=5_000)["id"]
    wf = sequence(acme, [{"action": "move_stage", "stage": "Contacted"}], name="Stager")
    acme.call("sequences_enroll", workflow_id=wf, contact_ids=[rosa])  # not enrolled for the deal: found by its effect
    drain(acme.db)

    steps = _steps(acme, "opportunity", deal)
    assert [(s["summary"], s["status"]) for s in steps] == [("Stager: step 1, move stage", "ok")]
    assert _steps(acme, "opportunity", unrelated) == []
    assert [s["summary"] for s in _steps(acme, "contact", rosa)] == ["Stager: step 1, move stage"]
