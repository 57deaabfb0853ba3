"""Moving live runs to a new version is a person's explicit act: saving never moves them, a move keeps each run's
place and timer, and it is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from harmonia.clock import ManualClock
from harmonia.errors import Forbidden
from harmonia.models import AuditEvent, Task
from harmonia.models.workflows import Enrollment

from ..conftest import Workspace
from .conftest import drain, enrollment, sequence

V1 = [
    {"action": "create_task", "title": "Call about the offer"},
    {"action": "wait", "days": 2},
    {"action": "create_task", "title": "Old follow-up"},
]
V2 = [*V1[:2], {"action": "create_task", "title": "New follow-up"}]


def _tasks(ws: Workspace) -> list[str]:
    with ws.db.unit_of_work(ws.owner_actor(), write=False) as uow:
        return sorted(uow.session.scalars(select(Task.title)))


def _save(ws: Workspace, wf: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return ws.call("workflows_upsert", ws.actor(channel="cli"), workflow_id=wf, name="Follow-up", kind="sequence",
                   steps=steps, active=True)  # fmt: skip


def _waiting_run(ws: Workspace, steps: list[dict[str, Any]]) -> tuple[str, str]:
    wf = sequence(ws, steps)
    contact = ws.call("contacts_create", first_name="Rosa", email="rosa@example.com")["id"]
    run = ws.call("sequences_enroll", workflow_id=wf, contact_ids=[contact])["items"][0]["enrollment_id"]
    drain(ws.db)
    assert enrollment(ws, run)["status"] == "waiting" and enrollment(ws, run)["step"] == 3
    return wf, str(run)


def test_a_run_stays_on_its_version_when_the_workflow_is_edited_until_a_person_moves_it_keeping_its_place(
    acme: Workspace, clock: ManualClock
) -> None:
    wf, run = _waiting_run(acme, V1)
    due = enrollment(acme, run)["next_run_at"]
    assert _save(acme, wf, V2)["version"] == 2
    assert enrollment(acme, run)["version"] == 1  # saving moved nothing

    moved = acme.call("enrollments_move", acme.actor(channel="ui"), workflow_id=wf)
    assert (moved["version"], moved["moved"], moved["skipped"]) == (2, 1, 0)
    assert moved["items"] == [{"enrollment_id": run, "moved": True, "from_version": 1, "step": 3}]
    after = enrollment(acme, run)
    assert (after["version"], after["step"], after["status"], after["next_run_at"]) == (2, 3, "waiting", due)

    clock.advance(days=2, minutes=1)
    drain(acme.db)
    assert _tasks(acme) == ["Call about the offer", "New follow-up"]  # the new version's third step, once
    assert enrollment(acme, run)["status"] == "completed"
    with acme.db.unit_of_work(acme.owner_actor(), write=False) as uow:
        audited = uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "enrollment_moved")).all()
    assert [(a.target_id, a.before, a.after, a.channel) for a in audited] == [
        (run, {"version": 1, "step": 3}, {"version": 2, "step": 3}, "ui")
    ]


def test_a_run_moved_to_a_shorter_version_has_nothing_left_and_completes(acme: Workspace, clock: ManualClock) -> None:
    wf, run = _waiting_run(acme, V1)
    _save(acme, wf, V1[:1])
    acme.call("enrollments_move", acme.actor(channel="ui"), workflow_id=wf, enrollment_ids=[run])
    clock.advance(days=2, minutes=1)
    drain(acme.db)
    assert enrollment(acme, run)["status"] == "completed"
    assert _tasks(acme) == ["Call about the offer"]


def test_a_run_whose_step_a_worker_is_running_is_not_moved_and_says_why(acme: Workspace, clock: ManualClock) -> None:
    wf, run = _waiting_run(acme, V1)
    _save(acme, wf, V2)
    with acme.db.unit_of_work(acme.owner_actor()) as uow:
        uow.session.execute(update(Enrollment).values(claimed_until=clock.now() + timedelta(minutes=5)))
    moved = acme.call("enrollments_move", acme.actor(channel="ui"), workflow_id=wf)
    assert moved["moved"] == 0 and "being run right now" in moved["items"][0]["reason"]
    assert enrollment(acme, run)["version"] == 1


def test_an_agent_cannot_move_runs_only_a_person_can(acme: Workspace, clock: ManualClock) -> None:
    wf, run = _waiting_run(acme, V1)
    _save(acme, wf, V2)
    with pytest.raises(Forbidden, match="only a person"):
        acme.call("enrollments_move", workflow_id=wf)
    assert enrollment(acme, run)["version"] == 1
