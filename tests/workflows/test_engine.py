"""The workflow engine against real parts: the switch matrix grows a workflow column, replies stop a sequence,
auto-replies do not, quiet hours move a step, two workers run each step once, a failing step fails loudly."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from harmonia.bootstrap import Harmonia, bootstrap
from harmonia.clock import ManualClock
from harmonia.config import Settings
from harmonia.db import Database
from harmonia.models import AuditEvent, Message, Task
from harmonia.models.workflows import StepRun
from harmonia.services.inbound_email import is_auto_reply, receive_email
from harmonia.workflows import engine

from ..conftest import Workspace
from .conftest import drain, enrollment, outbound, sequence

SEND_STEPS = {
    "email": {"action": "send_email", "subject": "Your offer", "body": "Hi {{first_name}}, the offer is ready."},
    "sms": {"action": "send_sms", "body": "Your offer is ready."},
    "call": {"action": "place_call", "purpose": "walk through the offer"},
}


def _provider_calls(smtp: Any, twilio: list[Any], sandbox: list[Any]) -> int:
    return len(smtp.messages) + len(twilio) + len(sandbox)


def _enroll(ws: Workspace, workflow_id: str, contact_id: str) -> str:
    answer = ws.call("sequences_enroll", workflow_id=workflow_id, contact_ids=[contact_id])
    assert answer["enrolled"] == 1, answer
    return str(answer["items"][0]["enrollment_id"])


def _messages(ws: Workspace, status: str | None = None) -> list[Message]:
    with ws.db.unit_of_work(ws.owner_actor(), write=False) as uow:
        stmt = select(Message).where(Message.direction == "outbound", Message.status != "draft")
        return list(uow.session.scalars(stmt.where(Message.status == status) if status else stmt))


@pytest.mark.parametrize("channel", list(SEND_STEPS))
def test_while_outbound_is_off_a_workflow_send_reaches_no_provider_and_its_run_stays_paused_until_a_person_resumes(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock, smtp: Any, twilio: list[Any],
    sandbox: list[Any], afternoon: None, channel: str,
) -> None:  # fmt: skip
    wf = sequence(acme, [SEND_STEPS[channel]])
    enrolled = _enroll(acme, wf, reachable["contact_id"])
    drain(acme.db)
    assert _provider_calls(smtp, twilio, sandbox) == 0
    assert enrollment(acme, enrolled)["status"] == "paused" and enrollment(acme, enrolled)["reason"] == "outbound_off"
    assert [m.status for m in _messages(acme)] == ["blocked"]  # kept in the thread, nothing lost

    outbound(acme, True)
    clock.advance(days=1)
    drain(acme.db)
    assert _provider_calls(smtp, twilio, sandbox) == 0
    assert enrollment(acme, enrolled)["status"] == "paused"

    acme.call("enrollments_resume", acme.actor(channel="ui"), action="resume", paused_reason="outbound_off")
    drain(acme.db)
    assert _provider_calls(smtp, twilio, sandbox) == 1
    assert enrollment(acme, enrolled)["status"] == "completed"


def test_over_mcp_nobody_resumes_a_paused_run(acme: Workspace, clock: ManualClock) -> None:
    from harmonia.errors import Forbidden

    with pytest.raises(Forbidden):
        acme.call("enrollments_resume", acme.actor(channel="mcp"), action="resume", paused_reason="outbound_off")


def test_discarding_paused_runs_exits_them_without_sending(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock, smtp: Any
) -> None:
    enrolled = _enroll(acme, sequence(acme, [SEND_STEPS["email"]]), reachable["contact_id"])
    drain(acme.db)
    outbound(acme, True)
    acme.call("enrollments_resume", acme.actor(channel="ui"), action="discard", enrollment_id=enrolled)
    drain(acme.db)
    assert smtp.messages == [] and enrollment(acme, enrolled)["status"] == "exited"


THREE_TOUCHES = [SEND_STEPS["email"], {"action": "wait", "days": 2}, {**SEND_STEPS["email"], "subject": "Following up"}]


def test_a_reply_stops_the_sequence_before_its_next_step(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock, smtp: Any
) -> None:
    outbound(acme, True)
    enrolled = _enroll(acme, sequence(acme, THREE_TOUCHES), reachable["contact_id"])
    drain(acme.db)
    assert [m["Subject"] for m in smtp.messages] == ["Your offer"]
    assert "Hi Rosa," in smtp.messages[0].get_payload()
    receive_email(acme.db, acme.id, "Rosa@Bakery.example", "Re: Your offer", "Sounds good, call me")
    clock.advance(days=2, minutes=1)
    drain(acme.db)
    assert len(smtp.messages) == 1
    assert enrollment(acme, enrolled)["status"] == "exited"
    assert enrollment(acme, enrolled)["reason"] == "replied by email"


@pytest.mark.parametrize(
    ("headers", "subject"),
    [({"Auto-Submitted": "auto-replied"}, "Re: Your offer"), ({"X-Autoreply": "yes"}, "Re: Your offer"),
     ({}, "Out of Office: back Monday"), ({}, "Automatic reply: Your offer")],
)  # fmt: skip
def test_an_auto_reply_does_not_stop_the_sequence(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock, smtp: Any, headers: dict[str, str], subject: str
) -> None:
    outbound(acme, True)
    enrolled = _enroll(acme, sequence(acme, THREE_TOUCHES), reachable["contact_id"])
    drain(acme.db)
    receive_email(acme.db, acme.id, "rosa@bakery.example", subject, "I am away until Monday.", headers)
    clock.advance(days=2, minutes=1)
    drain(acme.db)
    assert [m["Subject"] for m in smtp.messages] == ["Your offer", "Following up"]
    assert enrollment(acme, enrolled)["status"] == "completed"


def test_a_person_writing_back_is_not_an_auto_reply() -> None:
    assert not is_auto_reply({"Auto-Submitted": "no"}, "Re: Out of office hours question")
    assert is_auto_reply({"Precedence": "auto_reply"}, "Re: hi")


def test_a_reply_from_someone_at_the_same_account_stops_a_colleagues_run(
    acme: Workspace, clock: ManualClock, smtp: Any
) -> None:
    outbound(acme, True)
    account = acme.call("accounts_upsert", name="Bakery LLC", domain="bakery.example")
    rosa = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example", account_id=account["id"])
    ana = acme.call("contacts_create", first_name="Ana", email="ana@bakery.example", account_id=account["id"])
    wf = sequence(acme, THREE_TOUCHES)
    enrolled = _enroll(acme, wf, rosa["id"])
    drain(acme.db)
    receive_email(acme.db, acme.id, "ana@bakery.example", "Question", "Who is this?")
    assert enrollment(acme, enrolled)["status"] == "exited"
    assert enrollment(acme, enrolled)["reason"] == "someone at the same account replied"
    assert ana["id"] != rosa["id"]


def test_an_sms_step_due_at_night_is_moved_to_eight_in_the_morning_local_time(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock, twilio: list[Any]
) -> None:
    outbound(acme, True)
    clock.set(datetime(2026, 11, 25, 3, 0, tzinfo=UTC))  # 22:00 in New York
    enrolled = _enroll(acme, sequence(acme, [SEND_STEPS["sms"]]), reachable["contact_id"])
    drain(acme.db)
    assert twilio == []
    run = enrollment(acme, enrolled)
    assert run["status"] == "waiting"
    assert datetime.fromisoformat(run["next_run_at"]) == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # 08:00 EST


def test_a_wait_until_business_hours_lands_on_the_next_business_morning(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock
) -> None:
    clock.set(datetime(2026, 11, 27, 23, 0, tzinfo=UTC))  # Friday 18:00 in New York
    steps = [{"action": "wait", "until": "business_hours"}, {"action": "create_task", "title": "Call Rosa"}]
    enrolled = _enroll(acme, sequence(acme, steps), reachable["contact_id"])
    drain(acme.db)
    assert datetime.fromisoformat(enrollment(acme, enrolled)["next_run_at"]) == datetime(2026, 11, 30, 14, 0,
                                                                                          tzinfo=UTC)  # fmt: skip


def _count(ws: Workspace, model: Any, *where: Any) -> int:
    with ws.db.unit_of_work(ws.owner_actor(), write=False) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_two_workers_run_each_step_exactly_once(acme: Workspace, clock: ManualClock) -> None:
    contacts = [acme.call("contacts_create", first_name=f"C{i}", email=f"c{i}@example.com")["id"] for i in range(24)]
    steps = [{"action": "create_task", "title": "Call {{first_name}}"}, {"action": "notify_owner", "message": "Done"}]
    wf = sequence(acme, steps)
    assert acme.call("sequences_enroll", workflow_id=wf, contact_ids=contacts)["enrolled"] == 24
    workers = [Database(acme.db.url, clock=clock, pool_size=2) for _ in range(2)]
    roots = [bootstrap(Settings(database_url=w.url, inprocess_dispatch=False), db=w) for w in workers]
    errors: list[BaseException] = []

    def work(root: Harmonia) -> None:
        try:
            while engine.run_due(root, batch=5):
                pass
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in roots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)  # every wait has a timeout
    assert not any(t.is_alive() for t in threads)
    for r, w in zip(roots, workers, strict=True):
        r.close()
        w.dispose()
    assert errors == []
    assert _count(acme, Task, Task.title.like("Call C%")) == 24
    assert _count(acme, Task, Task.title == "Done") == 24
    assert _count(acme, StepRun, StepRun.status == "ok") == 48
    assert _count(acme, AuditEvent, AuditEvent.channel == "workflow", AuditEvent.action == "tasks_create") == 48
    assert {e["status"] for e in acme.call("enrollments_list", limit=100)["items"]} == {"completed"}


@pytest.mark.parametrize("step", [SEND_STEPS["email"], {"action": "create_task", "title": "Call Rosa"}])
def test_a_step_retried_after_a_crash_between_doing_and_recording_never_duplicates(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock, smtp: Any, monkeypatch: pytest.MonkeyPatch,
    step: dict[str, Any],
) -> None:  # fmt: skip
    outbound(acme, True)
    enrolled = _enroll(acme, sequence(acme, [step]), reachable["contact_id"])
    real = engine._record
    calls: list[int] = []

    def crash_once(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker died")
        real(*args)

    monkeypatch.setattr(engine, "_record", crash_once)
    drain(acme.db)
    assert enrollment(acme, enrolled)["status"] == "active"  # claimed by the dead worker until its lease ends
    clock.advance(engine.LEASE + timedelta(seconds=1))
    drain(acme.db)
    assert enrollment(acme, enrolled)["status"] == "completed"
    assert len(smtp.messages) == (1 if step["action"] == "send_email" else 0)
    assert _count(acme, Task, Task.title == "Call Rosa") == (1 if step["action"] == "create_task" else 0)


def test_a_failing_step_retries_with_backoff_then_fails_and_tells_the_owner(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock
) -> None:
    enrolled = _enroll(acme, sequence(acme, [{"action": "move_stage", "stage": "Funded"}], name="Stager"),
                       reachable["contact_id"])  # fmt: skip
    tries = [drain(acme.db)]
    for minutes in (1, 5, 30):
        assert enrollment(acme, enrolled)["status"] == "active"
        clock.advance(minutes=minutes)
        tries.append(drain(acme.db))
    run = enrollment(acme, enrolled)
    assert tries == [1, 1, 1, 1]
    assert run["status"] == "failed" and "no open deal" in run["reason"] and "failed 4 times" in run["reason"]
    tasks = acme.call("tasks_list", assignee_id=acme.owner.id)["items"]
    assert [t["title"] for t in tasks] == ["Workflow 'Stager' failed for Rosa Diaz"]
    clock.advance(days=1)
    assert drain(acme.db) == 0  # failed is final: not retried by itself, not dropped either


def test_a_won_deal_an_sms_stop_and_a_bounce_each_end_the_run(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock
) -> None:
    from harmonia.services import comms

    steps = [{"action": "wait", "days": 1}, {"action": "create_task", "title": "Call Rosa"}]
    contact_id = reachable["contact_id"]
    deal = acme.call("opportunities_create", name="Rosa's Bakery", contact_id=contact_id, amount=40_000)
    won = _enroll(acme, sequence(acme, steps, name="Deal"), contact_id)
    acme.call("opportunities_move_stage", opportunity_id=deal["id"], stage="Funded", reason="Funded by Summit")
    assert enrollment(acme, won)["reason"] == "the deal was won"

    stop = _enroll(acme, sequence(acme, steps, name="Texts"), contact_id)
    comms.receive_sms(acme.db, acme.id, "+13055550123", "STOP", "SM1")
    assert enrollment(acme, stop)["status"] == "exited"

    other = acme.call("contacts_create", first_name="Bo", email="bo@example.com")
    bounced = _enroll(acme, sequence(acme, steps, name="Mail"), other["id"])
    comms.email_event(acme.db, acme.id, "bo@example.com", "bounce")
    assert enrollment(acme, bounced)["reason"] == "the email bounced"
    clock.advance(days=2)
    drain(acme.db)
    assert acme.call("tasks_list")["items"] == []


def test_events_left_unhandled_by_a_crash_are_swept_by_the_engine(
    acme: Workspace, reachable: dict[str, str], clock: ManualClock
) -> None:
    enrolled = _enroll(acme, sequence(acme, [{"action": "wait", "days": 1}]), reachable["contact_id"])
    acme.db.bus = type(acme.db.bus)()  # the process that committed the reply died before its handlers ran
    receive_email(acme.db, acme.id, "rosa@bakery.example", "Re: hi", "yes please")
    assert enrollment(acme, enrolled)["status"] == "active"
    drain(acme.db)
    assert enrollment(acme, enrolled)["reason"] == "replied by email"
