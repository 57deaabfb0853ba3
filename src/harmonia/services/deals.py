"""Opportunities (deals), their stages and history, and the per-stage counters the board reads.

`Stage.open_count` / `open_amount` are maintained here, in the write path, so `pipelines_list` never counts rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from ..db import UnitOfWork
from ..errors import InvalidArguments, NotFound
from ..ids import kind_of, new_id
from ..models import Account, Contact, Opportunity, Pipeline, Stage, StageChange, User, utcnow
from .records import apply_changes, get_or_404

__all__ = ["create", "move_stage", "recount_stages", "resolve_pipeline", "resolve_stage", "touch", "update"]

OPP_FIELDS = (
    "name", "contact_id", "account_id", "amount", "owner_id", "source", "expected_close", "requested_amount",
    "funded_amount", "factor_rate", "term_days", "payment_frequency", "position", "fico", "use_of_funds",
    "existing_positions", "documents", "custom_fields",
)  # fmt: skip


def resolve_pipeline(uow: UnitOfWork, pipeline: str | None) -> Pipeline:
    pipelines = list(uow.session.scalars(select(Pipeline).order_by(Pipeline.position, Pipeline.name)))
    if not pipelines:
        raise NotFound("this workspace has no pipeline yet")
    if pipeline is None:
        return pipelines[0]
    for p in pipelines:
        if p.id == pipeline or p.name.lower() == pipeline.strip().lower():
            return p
    raise NotFound(f"pipeline {pipeline!r} not found; pipelines are: {', '.join(p.name for p in pipelines)}")


def resolve_stage(uow: UnitOfWork, pipeline_id: str | None, stage: str) -> Stage:
    """A stage by id or exact name (case-insensitive). Unknown names are an error listing the stages."""
    stmt = select(Stage).order_by(Stage.position)
    if pipeline_id:
        stmt = stmt.where(Stage.pipeline_id == pipeline_id)
    stages = list(uow.session.scalars(stmt))
    for s in stages:
        if s.id == stage or s.name.lower() == stage.strip().lower():
            return s
    names = ", ".join(dict.fromkeys(s.name for s in stages))
    if kind_of(stage) == "stage":
        raise NotFound(f"no stage with id {stage!r} in this pipeline; stages are: {names}", field="stage")
    raise NotFound(f"stage {stage!r} not found; stages are: {names}", field="stage")


def _adjust(stage: Stage | None, status: str, amount: float | None, sign: int) -> None:
    if stage is None or status != "open":
        return
    stage.open_count = (stage.open_count or 0) + sign
    stage.open_amount = round((stage.open_amount or 0) + sign * (amount or 0), 2)


def _stage(uow: UnitOfWork, stage_id: str) -> Stage | None:
    return uow.session.scalar(select(Stage).where(Stage.id == stage_id))


def _check_refs(uow: UnitOfWork, values: dict[str, Any]) -> None:
    if values.get("contact_id"):
        get_or_404(uow, Contact, values["contact_id"], "contact")
    if values.get("account_id"):
        get_or_404(uow, Account, values["account_id"], "account")
    if values.get("owner_id"):
        owner = get_or_404(uow, User, values["owner_id"], "user", field="owner_id")
        if owner.status != "active":
            raise InvalidArguments(f"user {owner.name} is {owner.status}; choose an active user")


def create(uow: UnitOfWork, values: dict[str, Any], *, pipeline: str | None, stage: str | None) -> Opportunity:
    _check_refs(uow, values)
    p = resolve_pipeline(uow, pipeline)
    first_open = uow.session.scalars(
        select(Stage).where(Stage.pipeline_id == p.id, Stage.kind == "open").order_by(Stage.position)
    ).first()
    s = resolve_stage(uow, p.id, stage) if stage else first_open
    if s is None:
        raise NotFound(f"pipeline {p.name!r} has no open stage")
    now = utcnow()
    if values.get("amount") is None and values.get("requested_amount") is not None:
        values["amount"] = values["requested_amount"]
    opp = Opportunity(
        id=new_id("opportunity"),
        pipeline_id=p.id,
        stage_id=s.id,
        status=s.kind,
        stage_entered_at=now,
        last_activity_at=now,
        **values,
    )
    uow.session.add(opp)
    uow.session.add(
        StageChange(id=new_id("stage_change"), opportunity_id=opp.id, from_stage_id=None, to_stage_id=s.id, at=now)
    )
    _adjust(s, opp.status, opp.amount, +1)
    return opp


def update(uow: UnitOfWork, opp: Opportunity, changes: dict[str, Any]) -> dict[str, Any]:
    _check_refs(uow, changes)
    stage = _stage(uow, opp.stage_id)
    _adjust(stage, opp.status, opp.amount, -1)
    before = apply_changes(opp, changes)
    _adjust(stage, opp.status, opp.amount, +1)
    if before:
        opp.last_activity_at = utcnow()
    return before


def move_stage(uow: UnitOfWork, opp: Opportunity, stage: str, reason: str | None) -> tuple[Stage, Stage | None]:
    """Returns (new stage, previous stage or None when nothing moved)."""
    target = resolve_stage(uow, opp.pipeline_id, stage)
    current = _stage(uow, opp.stage_id)
    if current is not None and current.id == target.id:
        return target, None
    if target.kind in ("won", "lost") and not (reason and reason.strip()):
        raise InvalidArguments(f"moving to '{target.name}' closes the deal as {target.kind}; give a `reason`")
    _adjust(current, opp.status, opp.amount, -1)
    now = utcnow()
    opp.stage_id = target.id
    opp.status = target.kind
    opp.stage_entered_at = now
    opp.last_activity_at = now
    if target.kind != "open":
        opp.closed_reason = reason.strip() if reason else None
    _adjust(target, opp.status, opp.amount, +1)
    uow.session.add(
        StageChange(
            id=new_id("stage_change"),
            opportunity_id=opp.id,
            from_stage_id=current.id if current else None,
            to_stage_id=target.id,
            reason=(reason or "").strip() or None,
            at=now,
        )
    )
    uow.emit("stage_entered", subject=("opportunity", opp.id), opportunity_id=opp.id, contact_id=opp.contact_id,
             stage=target.name, status=target.kind)  # fmt: skip
    return target, current


def touch(uow: UnitOfWork, opportunity_id: str | None, when: datetime | None = None) -> None:
    """Record activity on a deal (a note, message, call, task done) so staleness stays true."""
    if not opportunity_id:
        return
    opp = uow.session.scalar(select(Opportunity).where(Opportunity.id == opportunity_id))
    if opp is not None:
        opp.last_activity_at = when or utcnow()


def recount_stages(uow: UnitOfWork) -> None:
    """Recompute every stage's open count and amount from the rows (after a bulk load or to verify)."""
    totals = {
        sid: (n, amount)
        for sid, n, amount in uow.session.execute(
            select(Opportunity.stage_id, func.count(), func.coalesce(func.sum(Opportunity.amount), 0))
            .where(Opportunity.status == "open")
            .group_by(Opportunity.stage_id)
        )
    }
    for stage in uow.session.scalars(select(Stage)):
        n, amount = totals.get(stage.id, (0, 0))
        stage.open_count = int(n)
        stage.open_amount = float(amount or 0)
