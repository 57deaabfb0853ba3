"""The numbers the named prompts embed: what changed in the pipeline since a moment, and the deals gone quiet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..db import UnitOfWork
from ..models import Lender, Opportunity, Stage, StageChange, Submission, Tenant, utcnow

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


def pipeline_changes(uow: UnitOfWork, since: datetime) -> PipelineChanges:
    """What changed since `since`: new deals, stage moves (won, lost, other), lender decisions; and a sample of the
    deals stalling in each stage now, with the open pipeline by stage."""
    s = uow.session
    stages = {st.id: st for st in s.scalars(select(Stage).order_by(Stage.position))}
    deals: dict[str, Opportunity] = {}

    def deal(opp_id: str) -> Opportunity | None:
        if opp_id not in deals:
            found = s.scalar(select(Opportunity).where(Opportunity.id == opp_id))
            if found is None:
                return None
            deals[opp_id] = found
        return deals[opp_id]

    moves = list(s.scalars(select(StageChange).where(StageChange.at >= since).order_by(StageChange.at)))
    new: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    won: list[dict[str, Any]] = []
    lost: list[dict[str, Any]] = []
    for m in moves:
        d = deal(m.opportunity_id)
        if d is None:
            continue
        row = {
            "deal": d.name,
            "id": d.id,
            "amount": d.amount,
            "at": m.at.isoformat(timespec="minutes"),
            "to": stages[m.to_stage_id].name if m.to_stage_id in stages else m.to_stage_id,
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
    decisions = []
    for sub in s.scalars(select(Submission).where(Submission.decided_at >= since).order_by(Submission.decided_at)):
        d = deal(sub.opportunity_id)
        decisions.append({"deal": d.name if d else sub.opportunity_id, "lender": lenders.get(sub.lender_id),
                          "status": sub.status, "offer": sub.offer_amount, "factor": sub.factor_rate,
                          "decline_reason": sub.decline_reason})  # fmt: skip
    now = utcnow()
    stalled = []
    for st in stages.values():
        if st.kind != "open" or not st.stale_days:
            continue
        for d in s.scalars(select(Opportunity).where(
                Opportunity.stage_id == st.id, Opportunity.status == "open",
                Opportunity.last_activity_at <= now - timedelta(days=max(st.stale_days, 7)))
                .order_by(Opportunity.last_activity_at).limit(5)):  # fmt: skip
            stalled.append(
                {
                    "deal": d.name,
                    "id": d.id,
                    "stage": st.name,
                    "amount": d.amount,
                    "idle_days": (now - d.last_activity_at).days if d.last_activity_at else None,
                }
            )
    totals = [{"stage": st.name, "open": st.open_count, "amount": st.open_amount}
              for st in stages.values() if st.kind == "open"]  # fmt: skip
    return PipelineChanges(now=now, new=new, moved=moved, won=won, lost=lost, decisions=decisions, stalled=stalled,
                           totals=totals, open_total=sum(st.open_amount for st in stages.values() if st.kind == "open"))  # fmt: skip


def stale_deals(uow: UnitOfWork, days: int) -> tuple[datetime, list[dict[str, Any]]]:
    """(now, the open deals idle for `days` or more, oldest first; at most 50), each with its stage's name."""
    s = uow.session
    now = utcnow()
    stages = {st.id: st for st in s.scalars(select(Stage))}
    rows = []
    for d in s.scalars(select(Opportunity).where(Opportunity.status == "open",
                                                  Opportunity.last_activity_at <= now - timedelta(days=days))
                       .order_by(Opportunity.last_activity_at).limit(50)):  # fmt: skip
        st = stages.get(d.stage_id)
        rows.append(
            {
                "id": d.id,
                "deal": d.name,
                "stage": st.name if st else None,
                "amount": d.amount,
                "contact_id": d.contact_id,
                "owner_id": d.owner_id,
                "idle_days": (now - d.last_activity_at).days if d.last_activity_at else None,
                "stage_threshold_days": st.stale_days if st else None,
            }
        )
    return now, rows
