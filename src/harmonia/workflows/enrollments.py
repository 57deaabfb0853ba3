"""Enrolling contacts, stopping, resuming and discarding runs. Each answers per contact, in words, why not.

Enrolling 10,000 contacts is a handful of statements: contacts and their live or past runs are read in chunks and
the new enrollments inserted in one bulk statement per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from ..db import UnitOfWork
from ..errors import Conflict
from ..ids import new_id
from ..models import Contact
from ..models.workflows import LIVE_STATUSES, Enrollment, Workflow
from ..services import audit
from ..services.paging import page
from .definitions import settings_of, step_channel, version_of

__all__ = [
    "Moved",
    "Outcome",
    "enroll",
    "finish",
    "list_enrollments",
    "list_workflows",
    "move_to_current",
    "paused",
    "resume",
    "stats",
]

CHUNK = 500


@dataclass(frozen=True)
class Outcome:
    contact_id: str
    enrolled: bool
    enrollment_id: str | None = None
    reason: str | None = None


def _refusal(contact: Any, channels: set[str]) -> str | None:
    """Why a send step of this workflow could never reach the contact (the gate re-checks at delivery)."""
    if contact.dnd:
        return "do-not-disturb"
    for channel in sorted(channels):
        if channel in (contact.dnd_channels or []):
            return f"do-not-disturb on {channel}"
        if channel == "email" and contact.email_consent != "subscribed":
            return f"email consent is {contact.email_consent}"
        if channel == "email" and not contact.email:
            return "no email address"
        if channel in ("sms", "call"):
            consent = contact.sms_consent if channel == "sms" else contact.call_consent
            if consent != "opted_in":
                return f"{channel} needs opt-in consent and the contact's is {consent}"
            if not contact.phone:
                return "no phone number"
    return None


def enroll(
    uow: UnitOfWork, wf: Workflow, contact_ids: list[str], *, opportunity_id: str | None = None
) -> list[Outcome]:
    if not wf.active:
        raise Conflict(f"workflow {wf.name!r} is inactive; a person activates it (web UI, REST or the server "
                       "command line) before contacts can be enrolled", field="workflow_id")  # fmt: skip
    version = version_of(uow, wf.id, wf.version)
    assert version is not None
    channels = {c for c in (step_channel(s) for s in version.steps) if c}
    settings = settings_of(wf)
    now = uow.now()
    outcomes: dict[str, Outcome] = {}
    unique = list(dict.fromkeys(contact_ids))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        contacts = {c.id: c for c in uow.session.scalars(select(Contact).where(Contact.id.in_(chunk)))}
        past = _past_runs(uow, wf.id, chunk)
        rows = []
        for contact_id in chunk:
            contact = contacts.get(contact_id)
            reason = "contact not found" if contact is None else _refusal(contact, channels)
            reason = reason or _reentry_refusal(past.get(contact_id), settings.reentry, settings.reentry_days, now)
            if reason:
                outcomes[contact_id] = Outcome(contact_id, False, reason=reason)
                continue
            enrollment_id = new_id("enrollment")
            rows.append({"id": enrollment_id, "workflow_id": wf.id, "version": wf.version, "contact_id": contact_id,
                         "opportunity_id": opportunity_id, "status": "active", "step_index": 0, "iteration": 0,
                         "attempts": 0, "next_run_at": now, "created_at": now, "updated_at": now,
                         "created_by": uow.actor.user_id, "created_via": uow.actor.channel,
                         "created_client": uow.actor.client})  # fmt: skip
            outcomes[contact_id] = Outcome(contact_id, True, enrollment_id=enrollment_id)
        if rows:
            uow.session.execute(insert(Enrollment), rows)
    return [outcomes[c] for c in unique]


def _past_runs(uow: UnitOfWork, workflow_id: str, contact_ids: list[str]) -> dict[str, tuple[bool, datetime | None]]:
    """Per contact: (has a live run, when the last run finished)."""
    rows = uow.session.execute(
        select(Enrollment.contact_id, Enrollment.status, Enrollment.finished_at).where(
            Enrollment.workflow_id == workflow_id, Enrollment.contact_id.in_(contact_ids)
        )
    )
    past: dict[str, tuple[bool, datetime | None]] = {}
    for contact_id, status, finished_at in rows:
        live, last = past.get(contact_id, (False, None))
        live = live or status in LIVE_STATUSES
        if finished_at is not None and (last is None or finished_at > last):
            last = finished_at
        past[contact_id] = (live, last)
    return past


def _reentry_refusal(
    past: tuple[bool, datetime | None] | None, rule: str, days: int | None, now: datetime
) -> str | None:
    if past is None:
        return None
    live, last = past
    if live:
        return "already enrolled"
    if rule == "never":
        return "already went through this workflow (re-entry: never)"
    if rule == "after_days" and last is not None and now < last + timedelta(days=days or 0):
        return f"went through this workflow less than {days} days ago (re-entry: after {days} days)"
    return None


def finish(uow: UnitOfWork, enrollment: Enrollment, status: str, reason: str) -> None:
    enrollment.status, enrollment.reason = status, reason[:300]
    enrollment.next_run_at, enrollment.claimed_until, enrollment.claimed_by = None, None, None
    enrollment.finished_at = uow.now()


def exit_live(uow: UnitOfWork, reason: str, *, contact_ids: list[str] | None = None,
              opportunity_id: str | None = None) -> int:  # fmt: skip
    """End every live run of these contacts (or of this deal): a reply, an unsubscribe, a won deal."""
    cond = Enrollment.contact_id.in_(contact_ids) if contact_ids else Enrollment.opportunity_id == opportunity_id
    result = uow.session.execute(
        update(Enrollment)
        .where(cond, Enrollment.status.in_(LIVE_STATUSES))
        .values(
            status="exited",
            reason=reason[:300],
            next_run_at=None,
            claimed_until=None,
            claimed_by=None,
            finished_at=uow.now(),
            updated_at=uow.now(),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def resume(uow: UnitOfWork, enrollment: Enrollment) -> None:
    """Run the paused step again, as a new iteration: its blocked message stays as it was, a new one is composed."""
    if enrollment.status != "paused":
        raise Conflict(f"enrollment {enrollment.id} is {enrollment.status}, not paused; only paused enrollments "
                       "are resumed", field="enrollment_id")  # fmt: skip
    enrollment.status, enrollment.reason, enrollment.attempts = "active", None, 0
    enrollment.iteration += 1
    enrollment.next_run_at = uow.now()


@dataclass(frozen=True)
class Moved:
    enrollment_id: str
    moved: bool
    from_version: int
    step: int  # the next step to run (from 1), after the move
    reason: str | None = None


def move_to_current(
    uow: UnitOfWork, wf: Workflow, *, enrollment_ids: list[str] | None = None, from_version: int | None = None
) -> list[Moved]:
    """Move live runs pinned to older versions onto the workflow's current version — only when a person asks.

    The rule for where a run lands: it keeps its position, counted in steps done. A run that has done two steps runs
    the new version's third step next (a new version that is shorter has nothing left, and the run completes at its
    next turn). A waiting run keeps its timer (the wait it began is honoured) and a paused one stays paused. The
    step it goes on with runs as a new iteration — a new idempotency key and step run — so the old version's try
    at that position stays on record as it was and is never mistaken for the new step's. A run whose step is being
    run right now (a worker's lease) is not moved: it says so, and moving again later picks it up.
    """
    now = uow.now()
    stmt = select(Enrollment).where(Enrollment.workflow_id == wf.id, Enrollment.status.in_(LIVE_STATUSES),
                                    Enrollment.version < wf.version)  # fmt: skip
    if enrollment_ids is not None:
        stmt = stmt.where(Enrollment.id.in_(enrollment_ids))
    if from_version is not None:
        stmt = stmt.where(Enrollment.version == from_version)
    found = {e.id: e for e in uow.session.scalars(stmt.order_by(Enrollment.created_at, Enrollment.id))}
    out: list[Moved] = []
    for enrollment_id in enrollment_ids if enrollment_ids is not None else list(found):
        e = found.get(enrollment_id)
        if e is None:
            out.append(Moved(enrollment_id, False, 0, 0, reason="not a live run of this workflow on an older version"))
            continue
        if e.claimed_until is not None and e.claimed_until > now:
            out.append(Moved(e.id, False, e.version, e.step_index + 1,
                             reason="a step of this run is being run right now; move it again in a minute"))  # fmt: skip
            continue
        before = e.version
        e.version, e.iteration, e.attempts, e.last_error = wf.version, e.iteration + 1, 0, None
        e.updated_at = now
        audit.append(uow, action="enrollment_moved", outcome="ok", target_type="enrollment", target_id=e.id,
                     before={"version": before, "step": e.step_index + 1},
                     after={"version": wf.version, "step": e.step_index + 1})  # fmt: skip
        out.append(Moved(e.id, True, before, e.step_index + 1))
    return out


def stats(uow: UnitOfWork, workflow_ids: list[str]) -> dict[str, dict[str, int]]:
    """Enrollments per status, per workflow."""
    out: dict[str, dict[str, int]] = {w: {} for w in workflow_ids}
    if not workflow_ids:
        return out
    rows = uow.session.execute(
        select(Enrollment.workflow_id, Enrollment.status, func.count())
        .where(Enrollment.workflow_id.in_(workflow_ids))
        .group_by(Enrollment.workflow_id, Enrollment.status)
    )
    for workflow_id, status, n in rows:
        out[workflow_id][status] = int(n)
    return out


# --- the reads the automation operations page through (data access stays out of ops/) -------------------------


def list_workflows(
    uow: UnitOfWork, *, kind: str | None, active: bool | None, limit: int | None, cursor: str | None
) -> tuple[list[Workflow], str | None]:
    stmt = select(Workflow)
    if kind:
        stmt = stmt.where(Workflow.kind == kind)
    if active is not None:
        stmt = stmt.where(Workflow.active.is_(active))
    return page(uow.session, stmt, sort=Workflow.updated_at, tiebreak=Workflow.id, limit=limit, cursor=cursor)


def list_enrollments(
    uow: UnitOfWork, filters: dict[str, Any], *, limit: int | None, cursor: str | None
) -> tuple[list[Enrollment], str | None]:
    stmt = select(Enrollment)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Enrollment, name) == value)
    return page(uow.session, stmt, sort=Enrollment.created_at, tiebreak=Enrollment.id, limit=limit, cursor=cursor)


def paused(uow: UnitOfWork, reason: str | None, workflow_id: str | None) -> list[Enrollment]:
    """Every run paused for `reason` (in one workflow, when given)."""
    stmt = select(Enrollment).where(Enrollment.status == "paused", Enrollment.reason == reason)
    if workflow_id:
        stmt = stmt.where(Enrollment.workflow_id == workflow_id)
    return list(uow.session.scalars(stmt))
