"""The engine: claims due enrollments the way the outbox claims messages, and runs one step per transaction.

A worker claims a batch of due enrollments with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL; on SQLite a
conditional UPDATE in a BEGIN IMMEDIATE transaction, which writers take one at a time), so two workers never hold the
same enrollment. A step then runs in three short transactions: plan (read the step, move it into the recipient's
allowed hours, open its step run), act (one operation through the registry as the `workflow` channel, with the key
`wf:<enrollment>:<step>:<iteration>`), record (advance, pause, retry or fail). A crash between act and record leaves
the lease to expire; the retry finds the first try's audit row (same key, same transaction as its effect) or replays
the send's idempotency key, so nothing is sent, created or noted twice.

Failures retry with backoff (schedule.BACKOFF); then the enrollment is `failed` with the error and its owner gets a
task saying so — a run is never dropped silently.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from ..db import Actor, Database, UnitOfWork
from ..errors import HarmoniaError, OutboundBlocked, RateLimited
from ..ids import new_id
from ..models import AuditEvent, Contact, Message, Opportunity, Task, Tenant, User
from ..models.workflows import Enrollment, StepRun, Workflow, WorkflowVersion
from ..services import audit
from . import reactions, timers
from .definitions import SEND_ACTIONS, settings_of, version_of
from .enrollments import finish
from .invoke import Runtime, run_operation
from .schedule import allowed_from, backoff, business_hours_from

__all__ = ["LEASE", "engine_actor", "run_due", "run_step"]

log = logging.getLogger("harmonia.workflows")

LEASE = timedelta(minutes=5)
STEP_SCOPES = frozenset({"mcp:read", "mcp:write", "mcp:comms"})
RETRY_AFTER_BLOCK = {"send_budget": timedelta(hours=1), "rate_limited": timedelta(hours=1)}


def engine_actor(tenant_id: str) -> Actor:
    return Actor(tenant_id=tenant_id, channel="workflow", client="workflow engine")


def _worker_name() -> str:
    return f"{socket.gethostname()[:16]}:{os.getpid()}"


def run_due(rt: Runtime, *, batch: int = 200, worker: str | None = None) -> int:
    """React to pending events (stop rules first, then triggers), then run every step that is due. Returns how many
    steps ran. Safe to call from several workers at once. `rt` is the composition root (its database, its invoke)."""
    db = rt.db
    reactions.process_pending(db)
    with db.system_session(write=False) as s:
        tenant_ids = list(s.scalars(select(Tenant.id)))
    timers.scan(db, tenant_ids)
    ran = 0
    for tenant_id in tenant_ids:
        token = f"{worker or _worker_name()}:{uuid.uuid4().hex[:8]}"[:40]
        claimed = _claim(db, tenant_id, token, batch)
        if claimed:
            ran += _run_batch(rt, tenant_id, claimed, token)
    return ran


def _run_batch(rt: Runtime, tenant_id: str, ids: list[str], token: str) -> int:
    """Plan every claimed step in one transaction, run the operations, record every outcome in one transaction.
    The lease holds the whole batch; a crash anywhere leaves it to expire, and the retry is deduplicated (module
    docstring). A batch whose planning fails is run one step at a time, so one bad run never stops the rest."""
    definitions: dict[Any, Any] = {}  # versions never change; a pass reads each workflow once
    db = rt.db
    try:
        with db.unit_of_work(engine_actor(tenant_id)) as uow:
            calls = [(enrollment_id, _plan(uow, enrollment_id, token, definitions)) for enrollment_id in ids]
    except Exception:
        log.exception("planning a batch of %d workflow steps failed; running them one by one", len(ids))
        ran = 0
        for enrollment_id in ids:
            try:
                ran += run_step(rt, tenant_id, enrollment_id, token, definitions)
            except Exception:  # the lease expires and another pass retries it
                log.exception("workflow step of enrollment %s could not run", enrollment_id)
        return ran
    acted = [(enrollment_id, call, _act(rt, call)) for enrollment_id, call in calls if call is not None]
    if acted:
        try:
            with db.unit_of_work(engine_actor(tenant_id)) as uow:
                for enrollment_id, call, outcome in acted:
                    _record(uow, enrollment_id, token, call, outcome)
        except Exception:  # as if the worker died here: the leases expire and the retries replay, never repeat
            log.exception("recording %d workflow steps failed; they are retried when their lease ends", len(acted))
    return len(ids)


def _act(rt: Runtime, call: _Call) -> dict[str, Any] | HarmoniaError:
    if call.reused is not None:
        return call.reused
    try:
        return run_operation(rt, call.actor, call.name, call.arguments)
    except HarmoniaError as error:
        return error


def _due(now: datetime) -> Any:
    return (
        Enrollment.status.in_(("active", "waiting")),
        Enrollment.next_run_at <= now,
        or_(Enrollment.claimed_until.is_(None), Enrollment.claimed_until < now),
    )


def _claim(db: Database, tenant_id: str, token: str, batch: int) -> list[str]:
    with db.unit_of_work(engine_actor(tenant_id), write=False) as peek:  # most ticks find nothing: no write lock
        if peek.session.scalar(select(Enrollment.id).where(*_due(peek.now())).limit(1)) is None:
            return []
    with db.unit_of_work(engine_actor(tenant_id)) as uow:
        now = uow.now()
        stmt = select(Enrollment.id).where(*_due(now)).order_by(Enrollment.next_run_at).limit(batch)
        if not db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(uow.session.scalars(stmt))
        if not ids:
            return []
        uow.session.execute(
            update(Enrollment)
            .where(Enrollment.id.in_(ids), *_due(now))
            .values(claimed_until=now + LEASE, claimed_by=token)
            .execution_options(synchronize_session=False)
        )
        return list(uow.session.scalars(select(Enrollment.id).where(Enrollment.id.in_(ids),
                                                                    Enrollment.claimed_by == token)))  # fmt: skip


@dataclass
class _Call:
    """An operation the step runs, planned in the first transaction and run in the second."""

    name: str
    arguments: dict[str, Any]
    actor: Actor
    key: str
    action: str
    reused: dict[str, Any] | None = None  # the first try's result, when it had committed
    extra: dict[str, Any] = field(default_factory=dict)


def run_step(rt: Runtime, tenant_id: str, enrollment_id: str, token: str, definitions: dict[Any, Any] | None = None
             ) -> int:  # fmt: skip
    """Run the current step of one claimed enrollment. Returns 1 when a step ran (or was settled), else 0."""
    db = rt.db
    with db.unit_of_work(engine_actor(tenant_id)) as uow:
        call = _plan(uow, enrollment_id, token, {} if definitions is None else definitions)
    if call is None:
        return 1
    outcome = _act(rt, call)
    with db.unit_of_work(engine_actor(tenant_id)) as uow:
        _record(uow, enrollment_id, token, call, outcome)
    return 1


# --- plan --------------------------------------------------------------------------------------------------------


def _definition(uow: UnitOfWork, e: Enrollment, cache: dict[Any, Any]) -> tuple[Workflow, WorkflowVersion, str]:
    """The workflow, the version the run is pinned to, and the workspace's timezone (read once per pass)."""
    key = (e.workflow_id, e.version)
    if key not in cache:
        wf = uow.session.get(Workflow, (uow.tenant_id, e.workflow_id))
        version = version_of(uow, e.workflow_id, e.version)
        tenant = uow.session.get(Tenant, uow.tenant_id)
        assert wf is not None and version is not None and tenant is not None
        cache[key] = (wf, version, settings_of(wf).timezone or tenant.timezone)
    found: tuple[Workflow, WorkflowVersion, str] = cache[key]
    return found


def _plan(uow: UnitOfWork, enrollment_id: str, token: str, cache: dict[Any, Any]) -> _Call | None:
    s = uow.session
    e = s.get(Enrollment, (uow.tenant_id, enrollment_id), populate_existing=True)
    if e is None or e.claimed_by != token or e.status not in ("active", "waiting"):
        return None  # stopped, or taken over after the lease ran out
    wf, version, default_zone = _definition(uow, e, cache)
    now = uow.now()
    if e.step_index >= len(version.steps):
        finish(uow, e, "completed", "every step ran")
        return None
    step = version.steps[e.step_index]
    action = step["action"]
    contact = s.get(Contact, (uow.tenant_id, e.contact_id))
    assert contact is not None
    zone = contact.timezone or default_zone
    if action == "wait":
        _settle(uow, e, step, "ok", _wait_until(step, now, zone), "waiting")
        return None
    if action == "exit":
        _step_run(uow, e, action, "ok", detail="exit step")
        finish(uow, e, "exited", "reached an exit step")
        audit.append(uow, action="workflow_exit", outcome="ok", target_type="enrollment", target_id=e.id)
        return None
    if action == "if":
        holds = _condition(uow, e, contact, step)
        if holds or step.get("otherwise") == "skip_next":
            skip = 0 if holds else 1
            e.step_index += skip
            _settle(uow, e, step, "ok", now, "active", detail=f"condition {'held' if holds else 'failed'}")
            return None
        _step_run(uow, e, action, "ok", detail="condition failed")
        finish(uow, e, "exited", "an if step's condition did not hold")
        return None
    channel = SEND_ACTIONS.get(action)
    if channel in ("sms", "call"):
        allowed = allowed_from(now, zone)
        if allowed > now:
            e.status, e.next_run_at, e.claimed_until, e.claimed_by = "waiting", allowed, None, None
            e.reason = f"outside allowed hours: moved to 08:00 {zone}"
            return None
    if channel is not None:
        throttled_until = _throttle(uow, wf, now)
        if throttled_until is not None:
            e.status, e.next_run_at, e.claimed_until, e.claimed_by = "waiting", throttled_until, None, None
            e.reason = f"throttled: {settings_of(wf).sends_per_day} sends per day for this sender"
            return None
    key = f"wf:{e.id}:{e.step_index}:{e.iteration}"
    run = _step_run(uow, e, action, "started")
    run.attempts += 1
    try:
        name, arguments = _operation(uow, e, wf, contact, step, key, now)
    except HarmoniaError as error:
        _failed_try(uow, e, wf, run, error.message)
        return None
    owner = s.get(User, (uow.tenant_id, wf.owner_id)) if wf.owner_id else None
    actor = Actor(tenant_id=uow.tenant_id, channel="workflow", user_id=wf.owner_id, role=owner.role if owner else None,
                  scopes=STEP_SCOPES, client=f"workflow {wf.id}", request_id=key)  # fmt: skip
    call = _Call(name=name, arguments=arguments, actor=actor, key=key, action=action)
    if run.attempts > 1:
        call.reused = _first_try(uow, name, key)
    return call


def _settle(uow: UnitOfWork, e: Enrollment, step: dict[str, Any], status: str, next_at: datetime, state: str,
            detail: str | None = None) -> None:  # fmt: skip
    _step_run(uow, e, step["action"], status, detail=detail or f"until {next_at.isoformat()}")
    e.step_index += 1
    # Not in the audit log: a wait or a branch changes no record (its step run says what it did and why). Steps that
    # change records are audited by the operation they run; exits and failures by the engine.
    e.status, e.next_run_at, e.claimed_until, e.claimed_by, e.attempts = state, next_at, None, None, 0


def _wait_until(step: dict[str, Any], now: datetime, zone: str) -> datetime:
    due = now + timedelta(days=step.get("days") or 0, hours=step.get("hours") or 0, minutes=step.get("minutes") or 0)
    return business_hours_from(due, zone) if step.get("until") == "business_hours" else due


def _condition(uow: UnitOfWork, e: Enrollment, contact: Contact, step: dict[str, Any]) -> bool:
    holds = True
    if step.get("replied") is not None:
        holds = holds and (reactions.replied_since(uow, contact.id, e.created_at) == step["replied"])
    if step.get("field"):
        name, expected = step["field"], step.get("equals")
        if name == "tags":
            from ..services import tags as tag_service

            holds = holds and (expected or "").lower() in [t.lower() for t in tag_service.names_of(uow, "contact",
                                                                                                   contact.id)]  # fmt: skip
        else:
            value = getattr(contact, name, None) if name in Contact.__table__.c else (contact.custom_fields or {}
                                                                                       ).get(name)  # fmt: skip
            holds = holds and str(value if value is not None else "") == (expected or "")
    return holds


def _throttle(uow: UnitOfWork, wf: Workflow, now: datetime) -> datetime | None:
    """When the sender's daily send limit is reached: the moment the oldest send of the last day ages out."""
    limit = settings_of(wf).sends_per_day
    if limit is None:
        return None
    since = now - timedelta(days=1)
    n, oldest = uow.session.execute(
        select(func.count(StepRun.id), func.min(StepRun.finished_at))
        .join(Enrollment, (Enrollment.tenant_id == StepRun.tenant_id) & (Enrollment.id == StepRun.enrollment_id))
        .join(Workflow, (Workflow.tenant_id == Enrollment.tenant_id) & (Workflow.id == Enrollment.workflow_id))
        .where(
            Workflow.owner_id == wf.owner_id,
            StepRun.action.in_(tuple(SEND_ACTIONS)),
            StepRun.status == "ok",
            StepRun.finished_at >= since,
        )
    ).one()
    if (n or 0) < limit:
        return None
    return (oldest or now) + timedelta(days=1)


def _render(text: str, contact: Contact) -> str:
    return text.replace("{{first_name}}", contact.first_name or "").replace("{{last_name}}", contact.last_name or "")


def _operation(uow: UnitOfWork, e: Enrollment, wf: Workflow, contact: Contact, step: dict[str, Any], key: str,
               now: datetime) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """The registry operation and arguments of a step (SPEC §3 names)."""
    action, cid = step["action"], contact.id
    record = {"record_type": "contact", "record_id": cid}
    if action == "send_email":
        return "email_send", {"contact_id": cid, "subject": _render(step["subject"], contact),
                              "body": _render(step["body"], contact), "idempotency_key": key}  # fmt: skip
    if action == "send_sms":
        return "sms_send", {"contact_id": cid, "body": _render(step["body"], contact), "idempotency_key": key}
    if action == "place_call":
        return "calls_place", {"contact_id": cid, "purpose": step.get("purpose", ""), "idempotency_key": key}
    if action == "create_task":
        due = now + timedelta(days=step.get("due_in_days", 0))
        return "tasks_create", {"title": _render(step["title"], contact), "body": step.get("body"),
                                "due_at": due.isoformat(), "assignee_id": wf.owner_id, **record}  # fmt: skip
    if action == "notify_owner":
        return "tasks_create", {"title": _render(step["message"], contact)[:300], "due_at": now.isoformat(),
                                "assignee_id": wf.owner_id, **record}  # fmt: skip
    if action == "tag":
        return "tags_apply", {**record, "add": step.get("add", []), "remove": step.get("remove", [])}
    if action == "assign_owner":
        return "records_assign", {**record, "user_id": step["user_id"]}
    if action == "move_stage":
        deal_id = e.opportunity_id or uow.session.scalar(
            select(Opportunity.id).where(Opportunity.contact_id == cid, Opportunity.status == "open")
            .order_by(Opportunity.updated_at.desc()).limit(1))  # fmt: skip
        if deal_id is None:
            raise HarmoniaError("the contact has no open deal to move; enroll with an opportunity_id")
        return "opportunities_move_stage", {"opportunity_id": deal_id, "stage": step["stage"],
                                            "reason": step.get("reason")}  # fmt: skip
    raise HarmoniaError(f"unknown step action {action!r}")


def _first_try(uow: UnitOfWork, name: str, key: str) -> dict[str, Any] | None:
    """A retried step whose first try committed (its audit row is written in the same transaction as its effect)."""
    row = uow.session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.action == name,
            AuditEvent.request_id == key,
            AuditEvent.channel == "workflow",
            AuditEvent.outcome.in_(("ok", "blocked")),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    if row is None:
        return None
    if row.outcome == "blocked":
        return None  # a refused send: re-running it replays the kept message and its refusal by its key
    return {"id": row.target_id, "replayed": True}


def _step_run(uow: UnitOfWork, e: Enrollment, action: str, status: str, detail: str | None = None) -> StepRun:
    run = uow.session.scalar(select(StepRun).where(StepRun.enrollment_id == e.id, StepRun.step_index == e.step_index,
                                                   StepRun.iteration == e.iteration))  # fmt: skip
    if run is None:
        run = StepRun(id=new_id("step_run"), enrollment_id=e.id, step_index=e.step_index, iteration=e.iteration,
                      action=action, status=status, attempts=0)  # fmt: skip
        uow.session.add(run)
    run.status, run.detail = status, detail
    if status != "started":
        run.finished_at = uow.now()
    return run


# --- record ------------------------------------------------------------------------------------------------------


def _record(uow: UnitOfWork, enrollment_id: str, token: str, call: _Call, outcome: dict[str, Any] | HarmoniaError
            ) -> None:  # fmt: skip
    s = uow.session
    e = s.get(Enrollment, (uow.tenant_id, enrollment_id), populate_existing=True)
    if e is None:
        return
    wf = s.get(Workflow, (uow.tenant_id, e.workflow_id))
    assert wf is not None
    run = _step_run(uow, e, call.action, "started")
    now = uow.now()
    if isinstance(outcome, dict):
        run.result_type, run.result_id = _result_type(call.name), outcome.get("id")
        blocked = _blocked_rule(uow, call, outcome)
        if blocked is None:
            run.status, run.finished_at = "ok", now
            run.detail = "replayed the first try's result" if outcome.get("replayed") else None
            if e.status in ("active", "waiting"):  # a stop that came in meanwhile wins
                e.step_index += 1
                e.status, e.next_run_at, e.attempts, e.reason = "active", now, 0, None
                e.claimed_until = e.claimed_by = None
            return
        outcome = OutboundBlocked(blocked, "the message was refused at delivery")
    if isinstance(outcome, (OutboundBlocked, RateLimited)):
        rule = getattr(outcome, "rule", "rate_limited")
        run.status, run.detail, run.finished_at = "blocked", outcome.message[:2000], now
        run.result_type, run.result_id = "message", outcome.details.get("message_id")
        if e.status not in ("active", "waiting"):
            return
        e.claimed_until = e.claimed_by = None
        if rule == "outbound_off":
            e.status, e.reason, e.next_run_at = "paused", "outbound_off", None  # a person resumes or discards
            return
        if rule in RETRY_AFTER_BLOCK or rule == "quiet_hours":
            e.iteration += 1  # the refused message stays as it is; the retry composes a new one
            e.status = "waiting"
            e.next_run_at = now + RETRY_AFTER_BLOCK.get(rule, timedelta(minutes=30))
            e.reason = f"blocked: {rule}; retrying"
            return
        finish(uow, e, "exited", f"blocked: {rule}")  # consent, do-not-disturb, no address: the run cannot go on
        return
    _failed_try(uow, e, wf, run, outcome.message)


def _blocked_rule(uow: UnitOfWork, call: _Call, outcome: dict[str, Any]) -> str | None:
    """A send that came back ok may still have been held at delivery (outbound turned off in between), or be a
    replay of a refused first try."""
    if call.action not in SEND_ACTIONS or not outcome.get("id"):
        return None
    msg = uow.session.get(Message, (uow.tenant_id, outcome["id"]))
    if msg is None or msg.status not in ("held", "blocked"):
        return None
    reason = msg.status_reason or ""
    return reason.removeprefix("blocked: ").split(".", 1)[0] or "blocked"


def _result_type(name: str) -> str:
    return {"tasks_create": "task", "tags_apply": "contact", "records_assign": "contact",
            "opportunities_move_stage": "opportunity"}.get(name, "message")  # fmt: skip


def _failed_try(uow: UnitOfWork, e: Enrollment, wf: Workflow, run: StepRun, error: str) -> None:
    now = uow.now()
    run.status, run.detail = "failed", error[:2000]
    e.attempts += 1
    e.last_error = error[:500]
    e.claimed_until = e.claimed_by = None
    delay = backoff(e.attempts)
    if delay is not None:
        e.status, e.next_run_at = "active", now + delay
        return
    run.finished_at = now
    finish(uow, e, "failed", f"step {e.step_index + 1} ({run.action}) failed {e.attempts} times: {error}")
    _tell_owner(uow, e, wf, error)


def _tell_owner(uow: UnitOfWork, e: Enrollment, wf: Workflow, error: str) -> None:
    """Never silently abandoned: the owner gets a task on the contact, the audit a row, the bus an event."""
    contact = uow.session.get(Contact, (uow.tenant_id, e.contact_id))
    who = (contact.full_name if contact else None) or e.contact_id
    task = Task(id=new_id("task"), title=f"Workflow '{wf.name}' failed for {who}"[:300], due_at=uow.now(),
                body=f"Step {e.step_index + 1} failed {e.attempts} times; the last error: {error}\n"
                     f"Enrollment {e.id}. Fix the cause, then enroll the contact again.",
                assignee_id=wf.owner_id, record_type="contact", record_id=e.contact_id)  # fmt: skip
    uow.session.add(task)
    audit.append(uow, action="workflow_failed", outcome="error", target_type="enrollment", target_id=e.id,
                 detail=error[:500])  # fmt: skip
    uow.emit("workflow_failed", subject=("enrollment", e.id), workflow_id=wf.id, contact_id=e.contact_id,
             task_id=task.id, error=error[:500])  # fmt: skip
