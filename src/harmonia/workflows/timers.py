"""Triggers that fire on time rather than on an event: a deal idle for N days, a date field (expected close).

Scanned by the engine at most once a minute per process. Each deal's contact is enrolled through the same `enroll()`
as everything else, so the workflow's re-entry rule decides whether a deal that stays idle enrolls again (the default,
`never`, enrolls it once).
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..db import Actor, Database, UnitOfWork
from ..models import Opportunity, Tenant
from ..models.workflows import Workflow
from .definitions import version_of
from .enrollments import enroll

__all__ = ["SCAN_EVERY", "scan"]

SCAN_EVERY = timedelta(minutes=1)
_last: weakref.WeakKeyDictionary[Database, datetime] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def scan(db: Database, tenant_ids: list[str], *, force: bool = False) -> int:
    """Enroll the deals' contacts that time-based triggers select. Returns how many were enrolled."""
    now = db.clock.now()
    with _lock:
        last = _last.get(db)
        if not force and last is not None and timedelta(0) <= now - last < SCAN_EVERY:
            return 0
        _last[db] = now
    enrolled = 0
    for tenant_id in tenant_ids:
        with db.unit_of_work(Actor(tenant_id=tenant_id, channel="workflow", client="workflow engine")) as uow:
            enrolled += _scan_tenant(uow)
    return enrolled


def _scan_tenant(uow: UnitOfWork) -> int:
    enrolled = 0
    for wf in uow.session.scalars(select(Workflow).where(Workflow.active.is_(True))):
        version = version_of(uow, wf.id, wf.version)
        trigger = (version.trigger if version else None) or {}
        deals = _deals(uow, trigger)
        if deals is None:
            continue
        for deal_id, contact_id in deals:
            if contact_id:
                enrolled += sum(o.enrolled for o in enroll(uow, wf, [contact_id], opportunity_id=deal_id))
    return enrolled


def _deals(uow: UnitOfWork, trigger: dict[str, object]) -> list[tuple[str, str | None]] | None:
    now = uow.now()
    event = trigger.get("event")
    base = select(Opportunity.id, Opportunity.contact_id).where(Opportunity.status == "open")
    if event == "deal_idle":
        days = int(str(trigger.get("days") or 14))
        return [
            (r[0], r[1])
            for r in uow.session.execute(base.where(Opportunity.last_activity_at <= now - timedelta(days=days)))
        ]
    if event == "date_reached":
        tenant = uow.session.get(Tenant, uow.tenant_id)
        today = now.astimezone(ZoneInfo(tenant.timezone if tenant else "UTC")).date()
        due = today + timedelta(days=int(str(trigger.get("days") or 0)))
        return [(r[0], r[1]) for r in uow.session.execute(base.where(Opportunity.expected_close == due))]
    return None
