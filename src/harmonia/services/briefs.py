"""The numbers the named prompts embed: what changed in the pipeline since a moment, and the deals gone quiet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, select

from ..db import UnitOfWork
from ..models import Lender, Opportunity, Stage, StageChange, Submission, Tenant
from ..queries import TENANT, Query
from .deals import DEAL_NAMES
from .paging import with_names

__all__ = ["PipelineChanges", "pipeline_changes", "stale_deals", "workspace_zone"]


def workspace_zone(uow: UnitOfWork) -> ZoneInfo:
    tenant = uow.session.get(Tenant, uow.tenant_id)
    return ZoneInfo(tenant.timezone if tenant else "UTC")


@dataclass
class PipelineChanges:
    now: datetime
    new: list[dict[str, Any]]
    moved: list[dict[str, Any]]
    won: list[dict[str, Any]]
    lost: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    stalled: list[dict[str, Any]]
    totals: list[dict[str, Any]]
    open_total: float


_OPP, _SC = Opportunity.__table__, StageChange.__table__
_NAMES = tuple(n for n in DEAL_NAMES if n.via != "stage_id")
# Each move with its deal and the deal's people by name, in one statement (not a read per deal).
_MOVES = Query(
    with_names(
        select(_SC.c.at, _SC.c.from_stage_id, _SC.c.to_stage_id, _SC.c.reason, _OPP.c.id, _OPP.c.name,
               _OPP.c.amount),
        _OPP, _NAMES,
        source=_SC.join(_OPP, (_OPP.c.tenant_id == TENANT) & (_OPP.c.id == _SC.c.opportunity_id)),
    )
    .where(_SC.c.tenant_id == TENANT, _SC.c.at >= bindparam("since", type_=_SC.c.at.type))
    .order_by(_SC.c.at, _SC.c.id)
)  # fmt: skip
# Open deals idle since a moment, the most neglected first, with their people by name.
_IDLE = Query(
    with_names(select(_OPP.c.id, _OPP.c.name, _OPP.c.stage_id, _OPP.c.amount, _OPP.c.contact_id, _OPP.c.owner_id,
                      _OPP.c.account_id, _OPP.c.last_activity_at), _OPP, _NAMES)
    .where(_OPP.c.tenant_id == TENANT, _OPP.c.status == "open",
           _OPP.c.last_activity_at <= bindparam("idle_since", type_=_OPP.c.last_activity_at.type))
    .order_by(_OPP.c.last_activity_at, _OPP.c.id)
    .limit(bindparam("n", type_=Integer()))
)  # fmt: skip


def _people(row: Any, *, full: bool = False) -> dict[str, Any]:
    """Who a deal row names: its contact and its owner; `full` adds the contact's first name (to greet them) and the
    account. Names that are missing are left out."""
    first, last = row.contact_first_name, row.contact_last_name
    pairs = [("contact_name", f"{first or ''} {last or ''}".strip() or None)]
    if full:
        pairs += [("contact_first_name", first), ("account_name", row.account_name)]
    return {k: v for k, v in [*pairs, ("owner_name", row.owner_name)] if v}


def _idle_days(now: datetime, at: datetime | None) -> int | None:
    return max(0, (now - at).days) if at else None


def pipeline_changes(uow: UnitOfWork, since: datetime) -> PipelineChanges:
    """What changed since `since`: new deals, stage moves (won, lost, other), lender decisions; and the deals stalling
    now (idle past their stage's threshold, at least 7 days), most idle first, with the open pipeline by stage."""
    s = uow.session
    stages = {st.id: st for st in s.scalars(select(Stage).order_by(Stage.position))}
    new: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    won: list[dict[str, Any]] = []
    lost: list[dict[str, Any]] = []
    for m in _MOVES.rows(uow, since=since):
        row: dict[str, Any] = {
            "deal": m.name,
            "id": m.id,
            "amount": m.amount,
            "at": m.at,
            "to": stages[m.to_stage_id].name if m.to_stage_id in stages else m.to_stage_id,
            **_people(m),
        }
        if m.from_stage_id is None:
            new.append(row)
            continue
        row["from"] = stages[m.from_stage_id].name if m.from_stage_id in stages else m.from_stage_id
        kind = stages[m.to_stage_id].kind if m.to_stage_id in stages else "open"
        (won if kind == "won" else lost if kind == "lost" else moved).append(
            row | ({"reason": m.reason} if m.reason else {})
        )
    lenders = dict(s.execute(select(Lender.id, Lender.name)).all())
    decided = list(s.scalars(select(Submission).where(Submission.decided_at >= since).order_by(Submission.decided_at)))
    deal_names = dict(s.execute(select(Opportunity.id, Opportunity.name).where(
        Opportunity.id.in_({sub.opportunity_id for sub in decided}))).all()) if decided else {}  # fmt: skip
    decisions = [{"deal": deal_names.get(sub.opportunity_id, sub.opportunity_id), "id": sub.opportunity_id,
                  "lender": lenders.get(sub.lender_id), "status": sub.status, "offer": sub.offer_amount,
                  "factor": sub.factor_rate, "decline_reason": sub.decline_reason}
                 for sub in decided]  # fmt: skip
    now = uow.now()
    thresholds = {st.id: max(st.stale_days, 7) for st in stages.values() if st.kind == "open" and st.stale_days}
    stalled = []
    if thresholds:
        for d in _IDLE.rows(uow, idle_since=now - timedelta(days=min(thresholds.values())), n=500):
            idle = _idle_days(now, d.last_activity_at)
            if d.stage_id in thresholds and idle is not None and idle >= thresholds[d.stage_id]:
                stalled.append({"deal": d.name, "id": d.id, "stage": stages[d.stage_id].name, "amount": d.amount,
                                "idle_days": idle, **_people(d)})  # fmt: skip
    stalled.sort(key=lambda x: (-x["idle_days"], x["deal"]))  # the most idle first
    totals = [{"stage": st.name, "open": st.open_count, "amount": st.open_amount}
              for st in stages.values() if st.kind == "open"]  # fmt: skip
    return PipelineChanges(now=now, new=new, moved=moved, won=won, lost=lost, decisions=decisions, stalled=stalled,
                           totals=totals, open_total=sum(st.open_amount for st in stages.values() if st.kind == "open"))  # fmt: skip


def stale_deals(uow: UnitOfWork, days: int) -> tuple[datetime, list[dict[str, Any]]]:
    """(now, the open deals idle for `days` or more, the most idle first; at most 50), each with its stage's name and
    its contact (full and first name), account and owner by name."""
    now = uow.now()
    stages = {st.id: st for st in uow.session.scalars(select(Stage))}
    rows = []
    for d in _IDLE.rows(uow, idle_since=now - timedelta(days=days), n=50):
        st = stages.get(d.stage_id)
        rows.append(
            {
                "id": d.id,
                "deal": d.name,
                "stage": st.name if st else None,
                "amount": d.amount,
                "contact_id": d.contact_id,
                "owner_id": d.owner_id,
                **_people(d, full=True),
                "idle_days": _idle_days(now, d.last_activity_at),
                "stage_threshold_days": st.stale_days if st else None,
            }
        )
    return now, rows
