"""A test run shows what every step of a workflow would do for one contact and why, on a simulated clock, with the
gate's real verdicts — and sends nothing, writes nothing, enrolls no one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from harmonia.clock import ManualClock
from harmonia.models import Message, Task
from harmonia.models.workflows import Enrollment, StepRun

from ..conftest import Workspace
from .conftest import outbound, sequence

FOLLOW_UP = [
    {"action": "send_email", "subject": "Your offer", "body": "Hi {{first_name}}, the offer is ready."},
    {"action": "wait", "days": 2},
    {"action": "send_sms", "body": "Did you see the offer?"},
    {"action": "create_task", "title": "Call {{first_name}}"},
]


def _test_run(ws: Workspace, workflow_id: str, contact_id: str) -> dict[str, Any]:
    return ws.call("workflows_test_run", ws.actor(channel="ui"), workflow_id=workflow_id, contact_id=contact_id)


def _rows(ws: Workspace) -> dict[str, int]:
    with ws.db.unit_of_work(ws.owner_actor(), write=False) as uow:
        return {m.__name__: uow.session.scalar(select(func.count()).select_from(m)) or 0
                for m in (Message, Task, Enrollment, StepRun)}  # fmt: skip


def test_a_test_run_shows_every_step_on_simulated_time_and_sends_writes_and_enrolls_nothing(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock, sandbox: list[Any]
) -> None:
    outbound(acme, True)
    wf = sequence(acme, FOLLOW_UP)
    before = _rows(acme)

    run = _test_run(acme, wf, reachable["contact_id"])

    assert (run["result"], run["reason"]) == ("completed", "every step ran")
    assert [(s["step"], s["action"], s["outcome"]) for s in run["steps"]] == [
        (1, "send_email", "sandbox"),
        (2, "wait", "ok"),
        (3, "send_sms", "sandbox"),
        (4, "create_task", "ok"),
    ]
    assert "rosa@bakery.example: “Your offer” — Hi Rosa, the offer is ready." in run["steps"][0]["detail"]
    assert "Thu 2026-11-26 15:00 (America/New_York)" in run["steps"][1]["detail"]
    assert run["steps"][2]["at"] == "2026-11-26T20:00:00Z" and "nothing is sent" in run["steps"][2]["detail"]
    assert "Call Rosa" in run["steps"][3]["detail"]
    assert run["finished_at"] == "2026-11-26T20:00:00Z" and clock.now() == datetime(2026, 11, 24, 20, tzinfo=UTC)
    assert sandbox == [] and _rows(acme) == before


def test_a_test_run_says_the_run_would_pause_while_outbound_is_off(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock
) -> None:
    run = _test_run(acme, sequence(acme, FOLLOW_UP), reachable["contact_id"])
    assert (run["result"], run["reason"]) == ("paused", "outbound_off")
    assert [s["outcome"] for s in run["steps"]] == ["blocked"]
    assert "until a person resumes it" in run["steps"][0]["detail"]


def test_a_test_run_moves_a_late_sms_into_the_contacts_allowed_hours(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock
) -> None:
    outbound(acme, True)
    wf = sequence(acme, [{"action": "wait", "hours": 7}, {"action": "send_sms", "body": "Morning!"}])
    sms = _test_run(acme, wf, reachable["contact_id"])["steps"][1]  # 22:00 in New York after the wait
    assert (sms["outcome"], sms["at"]) == ("sandbox", "2026-11-25T13:00:00Z")
    assert "moved into allowed hours (Wed 2026-11-25 08:00" in sms["detail"]


def test_a_test_run_explains_an_exit_a_skip_and_a_step_that_would_fail(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock
) -> None:
    wf = sequence(acme, [
        {"action": "if", "field": "state", "equals": "FL", "otherwise": "skip_next"},
        {"action": "create_task", "title": "Florida only"},
        {"action": "tag", "add": ["no such tag"]},
        {"action": "exit"},
    ])  # fmt: skip
    run = _test_run(acme, wf, reachable["contact_id"])
    assert [(s["step"], s["outcome"]) for s in run["steps"]] == [(1, "ok"), (2, "skipped"), (3, "failed")]
    assert "skips the next step" in run["steps"][0]["detail"]
    assert "does not exist" in run["steps"][2]["detail"] and run["result"] == "failed"

    replied = sequence(acme, [{"action": "if", "replied": True}, {"action": "exit"}], name="Replied?")
    run = _test_run(acme, replied, reachable["contact_id"])
    assert run["result"] == "exited" and "has not replied" in run["steps"][0]["detail"]


def test_a_contact_a_sequence_could_never_reach_is_not_enrolled_and_the_test_run_says_why(
    acme: Workspace, clock: ManualClock
) -> None:
    contact = acme.call("contacts_create", first_name="Ben", email="ben@example.com")["id"]  # no SMS consent
    run = _test_run(acme, sequence(acme, FOLLOW_UP), contact)
    assert run["result"] == "not_enrolled" and "sms needs opt-in consent" in run["reason"] and run["steps"] == []
