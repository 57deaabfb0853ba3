"""A test run: what a workflow would do for one contact, step by step, and why — with nothing sent and nothing written.

Chosen over running the real operations in a rolled-back transaction: a step runs through `invoke()` in a unit of work
of its own, and a queued message is handed to the dispatcher when its transaction commits, so no single transaction
could hold a whole run and be rolled back. Instead the test run walks the steps in one read-only unit of work (the
database refuses writes there) and asks each step the questions the real run asks: the allowed hours and waits on a
simulated clock that starts now and never sleeps, the gate's verdict at that simulated moment (switch, consent,
do-not-disturb, quiet hours, budget), the if-conditions against the contact as it is, and whether the tag, the stage
or the owner a step names exists. A send that the gate lets through is shown as what the sandbox provider would have
received. Nothing reaches a provider, no enrollment or step run is created, the real runs' tables are untouched.

What a test run cannot know is the future: a reply that has not come yet, a switch turned off tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from ..db import UnitOfWork
from ..errors import HarmoniaError
from ..models import Contact, Opportunity, Tenant, User
from ..models.workflows import Workflow
from ..services import comms, deals, tags
from ..services.records import get_or_404
from .definitions import SEND_ACTIONS, settings_of, step_channel, version_of
from .engine import _condition, _render
from .enrollments import _refusal
from .schedule import BACKOFF, allowed_from, business_hours_from

__all__ = ["Simulation", "StepReport", "simulate"]

RETRIED_LATER = ("quiet_hours", "send_budget", "rate_limited")


@dataclass(frozen=True)
class StepReport:
    step: int  # from 1
    action: str
    at: datetime  # the simulated moment the step runs
    outcome: str  # ok, sandbox (a send that would go), blocked, skipped, exited, failed
    detail: str  # what it did and why


@dataclass
class Simulation:
    workflow_id: str
    version: int
    contact_id: str
    started_at: datetime
    finished_at: datetime
    result: str  # completed, paused, exited, failed, not_enrolled
    reason: str
    steps: list[StepReport] = field(default_factory=list)


def simulate(uow: UnitOfWork, wf: Workflow, contact_id: str) -> Simulation:
    version = version_of(uow, wf.id, wf.version)
    assert version is not None
    contact = get_or_404(uow, Contact, contact_id, "contact", field="contact_id")
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None
    zone = contact.timezone or settings_of(wf).timezone or tenant.timezone
    started = at = uow.now()
    run = Simulation(wf.id, wf.version, contact.id, started, started, "completed", "every step ran")
    refusal = _refusal(contact, {c for c in (step_channel(s) for s in version.steps) if c})
    if refusal:
        run.result, run.reason = "not_enrolled", f"the contact would not be enrolled: {refusal}"
        return run
    steps, i = version.steps, 0
    while i < len(steps):
        step, n = steps[i], i + 1
        action = str(step["action"])

        def report(outcome: str, detail: str, *, when: datetime | None = None, _n: int = n, _a: str = action,
                   _at: datetime = at) -> None:  # fmt: skip
            run.steps.append(StepReport(_n, _a, when or _at, outcome, detail))

        if action == "wait":
            until = at + timedelta(days=step.get("days") or 0, hours=step.get("hours") or 0,
                                   minutes=step.get("minutes") or 0)  # fmt: skip
            until = business_hours_from(until, zone) if step.get("until") == "business_hours" else until
            report("ok", f"waits until {_local(until, zone)}")
            at = until
        elif action == "exit":
            report("exited", "an exit step ends the run")
            run.result, run.reason = "exited", "reached an exit step"
            break
        elif action == "if":
            holds = _condition(uow, SimpleNamespace(created_at=started), contact, step)  # type: ignore[arg-type]
            why = "the contact has not replied (a test run cannot see replies yet to come)" if step.get(
                "replied") is not None and not holds else f"the condition {'held' if holds else 'failed'}"  # fmt: skip
            if holds:
                report("ok", f"{why}: goes on")
            elif step.get("otherwise") == "skip_next":
                report("ok", f"{why}: skips the next step")
                if n < len(steps):
                    run.steps.append(StepReport(n + 1, str(steps[n]["action"]), at, "skipped", "skipped by step "
                                                f"{n}'s condition"))  # fmt: skip
                i += 1
            else:
                report("exited", f"{why}: the run ends")
                run.result, run.reason = "exited", "an if step's condition did not hold"
                break
        elif action in SEND_ACTIONS:
            stop = _send(uow, run, report, contact, step, action, at, zone)
            at = run.steps[-1].at
            if stop:
                break
        else:
            problem, detail = _check(uow, wf, contact, step, at)
            if problem:
                report("failed", f"{problem}; a real run retries {len(BACKOFF)} times, then fails and tells the owner")
                run.result, run.reason = "failed", f"step {n} ({action}) would fail: {problem}"
                break
            report("ok", detail)
        i += 1
    run.finished_at = at
    return run


def _local(at: datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return f"{at.astimezone(ZoneInfo(zone)):%a %Y-%m-%d %H:%M} ({zone})"


def _send(uow: UnitOfWork, run: Simulation, report: Any, contact: Contact, step: dict[str, Any], action: str,
          at: datetime, zone: str) -> bool:  # fmt: skip
    """Report a send step; True when the run would stop (pause or exit) there."""
    channel = SEND_ACTIONS[action]
    moved = ""
    if channel in ("sms", "call"):
        allowed = allowed_from(at, zone)
        if allowed > at:
            moved, at = f"moved into allowed hours ({_local(allowed, zone)}); ", allowed
    decision = comms.would_send(uow, contact, channel, at)
    if decision.allowed:
        if action == "send_email":
            what = f"email to {contact.email}: “{_render(step['subject'], contact)}” — {_render(step['body'], contact)}"
        elif action == "send_sms":
            what = f"SMS to {contact.phone}: {_render(step['body'], contact)}"
        else:
            what = f"call to {contact.phone}" + (f" ({step['purpose']})" if step.get("purpose") else "")
        report("sandbox", f"{moved}the sandbox provider receives the {what} (test run: nothing is sent)", when=at)
        return False
    rule = decision.rule or "blocked"
    if rule == "outbound_off":
        report("blocked", f"{moved}{decision.reason}: a real run keeps the message blocked and pauses here until a "
               "person resumes it", when=at)  # fmt: skip
        run.result, run.reason = "paused", "outbound_off"
        return True
    if rule in RETRIED_LATER:
        report("blocked", f"{moved}{decision.reason}: a real run tries again later", when=at)
        return False
    report("blocked", f"{moved}{decision.reason}: the run cannot go on", when=at)
    run.result, run.reason = "exited", f"blocked: {rule}"
    return True


def _check(uow: UnitOfWork, wf: Workflow, contact: Contact, step: dict[str, Any], at: datetime) -> tuple[str, str]:
    """(why the step would fail, or "") and what it would do."""
    action = step["action"]
    owner = uow.session.get(User, (uow.tenant_id, wf.owner_id)) if wf.owner_id else None
    owner_name = owner.name if owner else "no one (the workflow has no owner)"
    if action in ("create_task", "notify_owner"):
        title = _render(step.get("title") or step.get("message") or "", contact)[:300]
        due = at + timedelta(days=step.get("due_in_days", 0))
        return "", f"creates the task “{title}” for {owner_name}, due {due:%Y-%m-%d %H:%M} UTC"
    if action == "tag":
        try:
            tags.resolve(uow, [*step.get("add", []), *step.get("remove", [])], create=False)
        except HarmoniaError as error:
            return error.message, ""
        parts = [f"adds {', '.join(step['add'])}" if step.get("add") else "",
                 f"removes {', '.join(step['remove'])}" if step.get("remove") else ""]  # fmt: skip
        return "", " and ".join(p for p in parts if p) + " on the contact"
    if action == "assign_owner":
        user = uow.session.get(User, (uow.tenant_id, step["user_id"]))
        return ("", f"makes {user.name} the contact's owner") if user else (f"no user {step['user_id']}", "")
    if action == "move_stage":
        deal = uow.session.scalar(select(Opportunity).where(Opportunity.contact_id == contact.id,
                                                            Opportunity.status == "open")
                                  .order_by(Opportunity.updated_at.desc()).limit(1))  # fmt: skip
        if deal is None:
            return "the contact has no open deal to move", ""
        try:
            stage = deals.resolve_stage(uow, deal.pipeline_id, step["stage"])
        except HarmoniaError as error:
            return error.message, ""
        if stage.kind in ("won", "lost") and not (step.get("reason") or "").strip():
            return f"moving to '{stage.name}' closes the deal as {stage.kind}; the step needs a reason", ""
        return "", f"moves the deal “{deal.name}” to {stage.name}"
    return f"unknown step action {action!r}", ""
