"""What workflows do when something happens: stop rules first, then triggers. Driven by domain events.

Each event is handled once: its `domain_events` row is claimed (processed_at set where it was empty) in the same
transaction as the reaction. The bus hands events over right after their change commits (in-process, fast); the engine
also sweeps rows still unprocessed before every pass (durable: a crash after commit loses nothing), and the two never
act twice on one event.

Stop rules (HubSpot's and Close's): an inbound reply on any channel, an unsubscribe, STOP or a bounce, a booked
meeting, the deal reaching won or lost, and a reply from someone at the same account (unless the workflow turns that
off) end the contact's live runs. Auto-replies (RFC 3834) do not: the inbound side marks them `auto_reply`.
"""

from __future__ import annotations

import logging
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ..db import Actor, Database, UnitOfWork
from ..events import DomainEvent
from ..models import Contact, DomainEventRow
from ..models.workflows import LIVE_STATUSES, Enrollment, Workflow
from .definitions import settings_of, version_of
from .enrollments import enroll, exit_live

__all__ = ["HANDLED", "install", "process_pending", "react", "replied_since"]

log = logging.getLogger("harmonia.workflows")

STOPS = {
    "message_bounced": "the email bounced",
    "email_unsubscribed": "unsubscribed",
    "contact_opted_out": "opted out (STOP)",
    "meeting_booked": "booked a meeting",
}
TRIGGERS = ("contact_created", "tag_applied", "stage_entered", "message_received")
HANDLED = tuple(sorted({*STOPS, *TRIGGERS}))
_installed: weakref.WeakSet[Any] = weakref.WeakSet()


def install(db: Database) -> None:
    """Subscribe the reactions to the database's bus (once)."""
    if db.bus in _installed:
        return
    _installed.add(db.bus)

    def handler(event: DomainEvent) -> None:
        react(db, event.tenant_id, event.id)

    for name in HANDLED:
        db.bus.subscribe(name, handler)


def _actor(tenant_id: str) -> Actor:
    return Actor(tenant_id=tenant_id, channel="workflow", client="workflow engine")


def process_pending(db: Database, batch: int = 500) -> int:
    """Handle events no one has handled yet, every tenant, oldest first."""
    from ..models import Tenant

    with db.system_session(write=False) as s:
        tenant_ids = list(s.scalars(select(Tenant.id)))
    handled = 0
    for tenant_id in tenant_ids:
        with db.unit_of_work(_actor(tenant_id), write=False) as uow:
            ids = list(uow.session.scalars(
                select(DomainEventRow.id).where(DomainEventRow.processed_at.is_(None), DomainEventRow.name.in_(HANDLED))
                .order_by(DomainEventRow.at).limit(batch)))  # fmt: skip
        for event_id in ids:
            handled += react(db, tenant_id, event_id)
    return handled


def react(db: Database, tenant_id: str, event_id: str) -> int:
    """Claim one event and apply the stop rules and triggers it calls for. Returns 1 if this call handled it."""
    try:
        with db.unit_of_work(_actor(tenant_id)) as uow:
            claimed = uow.session.execute(
                update(DomainEventRow).where(DomainEventRow.id == event_id, DomainEventRow.processed_at.is_(None))
                .values(processed_at=uow.now()).execution_options(synchronize_session=False))  # fmt: skip
            if not getattr(claimed, "rowcount", 0):
                return 0
            row = uow.session.get(DomainEventRow, (tenant_id, event_id))
            assert row is not None
            _stop(uow, row)
            _trigger(uow, row)
        return 1
    except Exception:
        log.exception("workflow reaction to event %s failed; the sweep will try it again", event_id)
        return 0


def _contact_of(row: DomainEventRow) -> str | None:
    data = row.data or {}
    found = data.get("contact_id") or (row.subject_id if row.subject_type == "contact" else None)
    return str(found) if found else None


def _stop(uow: UnitOfWork, row: DomainEventRow) -> None:
    data, contact_id = row.data or {}, _contact_of(row)
    if row.name == "message_received":
        if data.get("auto_reply") or not contact_id:
            return  # an out-of-office is not a reply
        exit_live(uow, f"replied by {data.get('channel') or 'message'}", contact_ids=[contact_id])
        _stop_colleagues(uow, contact_id)
    elif row.name in STOPS and contact_id:
        exit_live(uow, STOPS[row.name], contact_ids=[contact_id])
    elif row.name == "stage_entered" and data.get("status") in ("won", "lost"):
        reason = f"the deal was {data['status']}"
        if data.get("opportunity_id"):
            exit_live(uow, reason, opportunity_id=str(data["opportunity_id"]))
        if contact_id:
            exit_live(uow, reason, contact_ids=[contact_id])


def _stop_colleagues(uow: UnitOfWork, contact_id: str) -> None:
    """A reply from someone at the same account ends the others' runs in workflows that stop on account replies."""
    s = uow.session
    account_id = s.scalar(select(Contact.account_id).where(Contact.id == contact_id))
    if not account_id:
        return
    colleagues = select(Contact.id).where(Contact.account_id == account_id, Contact.id != contact_id)
    live = s.execute(
        select(Enrollment, Workflow)
        .join(Workflow, (Workflow.tenant_id == Enrollment.tenant_id) & (Workflow.id == Enrollment.workflow_id))
        .where(Enrollment.contact_id.in_(colleagues), Enrollment.status.in_(LIVE_STATUSES))
    ).all()
    now = uow.now()
    for enrollment, wf in live:
        if settings_of(wf).stop_on_account_reply:
            enrollment.status, enrollment.reason = "exited", "someone at the same account replied"
            enrollment.next_run_at = enrollment.claimed_until = enrollment.claimed_by = None
            enrollment.finished_at = now


def _trigger(uow: UnitOfWork, row: DomainEventRow) -> None:
    if row.name not in TRIGGERS:
        return
    data, contact_id = row.data or {}, _contact_of(row)
    if row.name == "tag_applied" and data.get("record_type") == "contact":
        contact_id = contact_id or str(data.get("record_id") or "") or None
    if row.name == "message_received" and data.get("auto_reply"):
        return
    if not contact_id:
        return
    for wf in uow.session.scalars(select(Workflow).where(Workflow.active.is_(True))):  # any kind with a trigger
        version = version_of(uow, wf.id, wf.version)
        trigger = (version.trigger if version else None) or {}
        if trigger.get("event") != row.name or not _matches(trigger, data):
            continue
        outcome = enroll(uow, wf, [contact_id], opportunity_id=data.get("opportunity_id"))[0]
        if not outcome.enrolled:
            log.info("automation %s did not enroll %s: %s", wf.id, contact_id, outcome.reason)


def _matches(trigger: dict[str, Any], data: dict[str, Any]) -> bool:
    def same(key: str) -> bool:
        wanted = trigger.get(key)
        return wanted is None or str(data.get(key) or "").lower() == str(wanted).lower()

    return same("tag") and same("stage") and same("channel")


def replied_since(uow: UnitOfWork, contact_id: str, since: datetime) -> bool:
    """Whether the contact sent anything but an auto-reply since `since` (by the events' clock)."""
    rows = uow.session.scalars(
        select(DomainEventRow.data).where(
            DomainEventRow.subject_id == contact_id,
            DomainEventRow.at >= since,
            DomainEventRow.name == "message_received",
        )
    )
    return any(not (data or {}).get("auto_reply") for data in rows)
