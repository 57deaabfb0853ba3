"""Triggers that fire on time rather than on an event: a deal idle for N days, a date field (expected close), and
a schedule (a cron expression in the workflow's time zone, enrolling the contacts with a tag).

Scanned by the engine at most once a minute per process. Each deal's contact is enrolled through the same `enroll()`
as everything else, so the workflow's re-entry rule decides whether a deal that stays idle enrolls again (the default,
`never`, enrolls it once).

A schedule fires for the latest tick at or before now that is later than `workflows.scheduled_through`. The tick is
claimed by a conditional UPDATE in the same transaction as the enrollments (on PostgreSQL a second worker waits on
the row, then finds the condition false; on SQLite writers queue), so one tick enrolls once however many workers
scan. Ticks missed while no worker ran are not replayed one by one: the latest of them fires once.
"""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select, update

from ..db import Actor, Database, UnitOfWork
from ..models import Opportunity, Tag, Tagging, Tenant
from ..models.workflows import Workflow
from .definitions import settings_of, version_of
from .enrollments import enroll

__all__ = ["SCAN_EVERY", "last_tick", "scan"]

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
    for wf in list(uow.session.scalars(select(Workflow).where(Workflow.active.is_(True)))):
        version = version_of(uow, wf.id, wf.version)
        trigger = (version.trigger if version else None) or {}
        if trigger.get("event") == "schedule":
            enrolled += _scheduled(uow, wf, trigger)
            continue
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


def last_tick(cron: str, now: datetime, zone: str) -> datetime:
    """The latest tick of `cron` at or before `now`, reading the expression in `zone` (as UTC)."""
    local = now.astimezone(ZoneInfo(zone))
    it = croniter(cron, local + timedelta(seconds=1))  # a tick exactly at `now` counts as reached
    tick: datetime = it.get_prev(datetime)
    return tick.astimezone(UTC)


def _scheduled(uow: UnitOfWork, wf: Workflow, trigger: dict[str, object]) -> int:
    """Enroll the tagged contacts once for the latest tick not yet claimed."""
    now = uow.now()
    if wf.scheduled_through is None:  # saved before schedules had a baseline: count from now
        wf.scheduled_through = now
        return 0
    tenant = uow.session.get(Tenant, uow.tenant_id)
    zone = settings_of(wf).timezone or (tenant.timezone if tenant else "UTC")
    tick = last_tick(str(trigger["cron"]), now, zone)
    if tick <= wf.scheduled_through:
        return 0
    claimed = uow.session.execute(
        update(Workflow)
        .where(Workflow.id == wf.id, Workflow.scheduled_through < tick)
        .values(scheduled_through=tick)
        .execution_options(synchronize_session=False)
    )
    if not getattr(claimed, "rowcount", 0):
        return 0  # another worker took this tick
    tagged = select(Tag.id).where(func.lower(Tag.name) == str(trigger.get("tag") or "").strip().lower())
    contact_ids = list(uow.session.scalars(
        select(Tagging.record_id).where(Tagging.tag_id.in_(tagged), Tagging.record_type == "contact")
        .order_by(Tagging.record_id)))  # fmt: skip
    if not contact_ids:
        return 0
    return sum(o.enrolled for o in enroll(uow, wf, contact_ids))
