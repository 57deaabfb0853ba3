"""Opportunities (deals), their stages and history, and the per-stage counters the board reads.

`Stage.open_count` / `open_amount` are maintained here, in the write path, so `pipelines_list` never counts rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from ..db import UnitOfWork
from ..errors import InvalidArguments, NotFound
from ..ids import kind_of, new_id
from ..models import (
    Account,
    CashflowMonth,
    Contact,
    Lender,
    Note,
    Opportunity,
    Pipeline,
    Stage,
    StageChange,
    Submission,
    Tag,
    Tagging,
    Task,
    User,
    utcnow,
)
from ..queries import TENANT, Query, json_fields, json_rows, parse_instant
from .paging import Listing, at_least, at_most, eq, named, with_names
from .records import apply_changes, get_or_404, not_found

__all__ = ["DEAL_NAMES", "cents", "create", "deal_row", "get_deal", "instant_text", "list_deals", "move_stage",
           "pipelines", "recount_stages", "resolve_pipeline", "resolve_stage", "stage_names", "touch", "update"]  # fmt: skip

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
    now = uow.now()
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
        StageChange(
            id=new_id("stage_change"),
            opportunity_id=opp.id,
            from_stage_id=None,
            to_stage_id=s.id,
            at=now,
            owner_id=opp.owner_id,
        )
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
    now = uow.now()
    entered = opp.stage_entered_at
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
            owner_id=opp.owner_id,
            direction=move_direction(current, target),
            days_in_from_stage=int((now - entered).total_seconds() // 86400) if current and entered else None,
        )
    )
    uow.emit("stage_entered", subject=("opportunity", opp.id), opportunity_id=opp.id, contact_id=opp.contact_id,
             stage=target.name, status=target.kind)  # fmt: skip
    return target, current


def move_direction(current: Stage | None, target: Stage) -> str | None:
    """How the flow report counts a move: into a lost stage, forward (a later position, won included), or back."""
    if current is None:
        return None
    if target.kind == "lost":
        return "lost"
    return "forward" if target.position > current.position else "back"


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


# Reads. The hot ones (opportunities_list, opportunities_get) run on compiled queries (queries.py), no ORM.

# Who and what a deal points at, by name, read in the deal's own statement: a model writes "Hi Daniel" and "Rita's
# deal" without a contacts_get or users_list per deal (users_list needs admin).
DEAL_NAMES = (
    named(Stage.__table__, "stage_id", stage_name="name"),
    named(User.__table__, "owner_id", owner_name="name"),
    named(Contact.__table__, "contact_id", contact_first_name="first_name", contact_last_name="last_name"),
    named(Account.__table__, "account_id", account_name="name"),
)

_DEAL_LIST = Listing(
    Opportunity.__table__,
    ("id", "name", "stage_id", "status", "amount", "contact_id", "account_id", "owner_id", "last_activity_at",
     "stage_entered_at", "updated_at"),
    {
        **{f: eq(f) for f in ("pipeline_id", "stage_id", "owner_id", "contact_id", "account_id", "status")},
        "amount_min": at_least("amount"),
        "amount_max": at_most("amount"),
        "updated_since": at_least("updated_at"),
        "idle_since": at_most("last_activity_at"),
        "has_amount": lambda c, p: c.amount.is_not(None),  # sorting by amount leaves out deals without one
    },
    {"updated_desc": ("updated_at", True), "amount_desc": ("amount", True), "idle_desc": ("last_activity_at", False)},
    DEAL_NAMES,
)  # fmt: skip


def list_deals(
    uow: UnitOfWork,
    *,
    pipeline: str | None,
    stage: str | None,
    filters: dict[str, Any],
    stale_days: int | None,
    sort: str,
    limit: int | None,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """Deals by `sort`; `pipeline` and `stage` are ids or names; `filters` are the other list arguments (None: not
    filtered). `stale_days`: open deals idle that long, the most neglected first."""
    pipeline_id = resolve_pipeline(uow, pipeline).id if pipeline else None
    values: dict[str, Any] = {
        **filters,
        "pipeline_id": pipeline_id,
        "stage_id": resolve_stage(uow, pipeline_id, stage).id if stage else None,
    }
    if stale_days:
        # open deals idle for N days, oldest first: the most neglected on top
        values |= {"status": "open", "idle_since": utcnow() - timedelta(days=stale_days)}
        sort = "idle_desc"
    if sort == "amount_desc":
        values["has_amount"] = True
    return _DEAL_LIST.page(uow, values, sort=sort, limit=limit, cursor=cursor)


_OPP, _STG, _SC, _TSK, _NTE, _SUB, _LND, _CF, _PIP, _USR, _CTC, _ACC, _TGG, _TAG = (
    m.__table__
    for m in (Opportunity, Stage, StageChange, Task, Note, Submission, Lender, CashflowMonth, Pipeline, User, Contact,
              Account, Tagging, Tag)
)  # fmt: skip
_STAGE_NAMES = Query(select(_STG.c.id, _STG.c.name).where(_STG.c.tenant_id == TENANT))
_ID: Any = bindparam("opportunity_id")


def _stage_name(stage_id: Any, *, within: Any) -> Any:
    return select(_STG.c.name).where(_STG.c.tenant_id == TENANT, _STG.c.id == stage_id).correlate(within)


# A write's answer (deal_row): the deal with its stage, owner, contact and account by name, nothing more.
_DEAL_ROW = Query(with_names(select(_OPP), _OPP, DEAL_NAMES).where(_OPP.c.tenant_id == TENANT, _OPP.c.id == _ID))


def _user_name(user_id: Any, *, within: Any) -> Any:
    return select(_USR.c.name).where(_USR.c.tenant_id == TENANT, _USR.c.id == user_id).correlate(within)


# opportunities_get: ONE statement — the deal, the names of its stage, owner, contact and account, and each related
# list as a JSON array (queries.json_rows). Was eight statements; each list is still an indexed lookup.
_DEAL = Query(
    select(
        _OPP,
        _stage_name(_OPP.c.stage_id, within=_OPP).scalar_subquery().label("stage"),
        select(_USR.c.name).where(_USR.c.tenant_id == TENANT, _USR.c.id == _OPP.c.owner_id)
        .scalar_subquery().label("owner_name"),
        select(func.coalesce(func.nullif(func.trim(_CTC.c.first_name + " " + _CTC.c.last_name), ""), _CTC.c.email,
                             _CTC.c.phone))
        .where(_CTC.c.tenant_id == TENANT, _CTC.c.id == _OPP.c.contact_id).scalar_subquery().label("contact_name"),
        select(_ACC.c.name).where(_ACC.c.tenant_id == TENANT, _ACC.c.id == _OPP.c.account_id)
        .scalar_subquery().label("account_name"),
        json_rows(
            select(json_fields(name=_TAG.c.name))
            .join_from(_TGG, _TAG, (_TAG.c.tenant_id == _TGG.c.tenant_id) & (_TAG.c.id == _TGG.c.tag_id))
            .where(_TGG.c.tenant_id == TENANT, _TAG.c.tenant_id == TENANT, _TGG.c.record_type == "opportunity",
                   _TGG.c.record_id == _ID)
            .order_by(_TAG.c.name)
        ).label("tag_rows"),
        json_rows(
            select(json_fields(**{"from": _stage_name(_SC.c.from_stage_id, within=_SC).scalar_subquery(),
                                  "to": _stage_name(_SC.c.to_stage_id, within=_SC).scalar_subquery()},
                               at=_SC.c.at, by=_SC.c.created_by,
                               by_name=_user_name(_SC.c.created_by, within=_SC).scalar_subquery(),
                               via=_SC.c.created_via, reason=_SC.c.reason))
            .where(_SC.c.tenant_id == TENANT, _SC.c.opportunity_id == _ID)
            .order_by(_SC.c.at)
        ).label("history"),
        json_rows(
            select(json_fields(id=_TSK.c.id, title=_TSK.c.title, status=_TSK.c.status, due_at=_TSK.c.due_at))
            .where(_TSK.c.tenant_id == TENANT, _TSK.c.record_type == "opportunity", _TSK.c.record_id == _ID)
            .order_by(_TSK.c.status.desc(), _TSK.c.due_at)
            .limit(20)
        ).label("tasks"),
        json_rows(
            select(json_fields(id=_NTE.c.id, body=func.substr(_NTE.c.body, 1, 300), at=_NTE.c.created_at,
                               by=_NTE.c.author_id,
                               by_name=_user_name(_NTE.c.author_id, within=_NTE).scalar_subquery()))
            .where(_NTE.c.tenant_id == TENANT, _NTE.c.record_type == "opportunity", _NTE.c.record_id == _ID)
            .order_by(_NTE.c.created_at.desc())
            .limit(10)
        ).label("notes"),
        json_rows(
            select(json_fields(id=_SUB.c.id, lender=_LND.c.name, lender_id=_SUB.c.lender_id, status=_SUB.c.status,
                               submitted_at=_SUB.c.submitted_at, offer_amount=_SUB.c.offer_amount,
                               factor_rate=_SUB.c.factor_rate, decline_reason=_SUB.c.decline_reason))
            .join_from(_SUB, _LND, (_LND.c.tenant_id == _SUB.c.tenant_id) & (_LND.c.id == _SUB.c.lender_id))
            .where(_SUB.c.tenant_id == TENANT, _LND.c.tenant_id == TENANT, _SUB.c.opportunity_id == _ID)
            .order_by(_SUB.c.submitted_at)
        ).label("submissions"),
        json_rows(
            select(json_fields(month=_CF.c.month, partial=_CF.c.is_partial, deposits=_CF.c.deposits_total,
                               revenue=_CF.c.true_revenue, adb=_CF.c.avg_daily_balance, nsf=_CF.c.nsf_count,
                               negative_days=_CF.c.negative_days))
            .where(_CF.c.tenant_id == TENANT, _CF.c.account_id == select(_OPP.c.account_id)
                   .where(_OPP.c.tenant_id == TENANT, _OPP.c.id == _ID).correlate(None).scalar_subquery())
            .order_by(_CF.c.month.desc())
            .limit(6)
        ).label("cashflow"),
    ).where(_OPP.c.tenant_id == TENANT, _OPP.c.id == _ID)
)  # fmt: skip


def deal_row(uow: UnitOfWork, deal_id: str) -> Any:
    """One deal as the reads show it, with its stage, owner, contact and account by name (a write's answer: the
    unit's pending changes are flushed first, so it shows them)."""
    d = _DEAL_ROW.first(uow, opportunity_id=deal_id)
    if d is None:
        raise not_found(deal_id, "opportunity")
    return d


def stage_names(uow: UnitOfWork) -> dict[str, str]:
    return {r.id: r.name for r in _STAGE_NAMES.rows(uow)}


def cents(value: int | None) -> float | None:
    """Money inside get_deal's JSON lists (cents) in dollars."""
    return None if value is None else value / 100


def instant_text(value: str | None) -> str | None:
    """A time inside get_deal's JSON lists as ISO 8601 in UTC with `Z`, as every other time is answered."""
    at = parse_instant(value)
    return at.isoformat().replace("+00:00", "Z") if at else None


def get_deal(uow: UnitOfWork, deal_id: str) -> Any:
    """One deal with what opportunities_get shows beside it, in one statement: the deal's columns, `stage`,
    `owner_name`, `contact_name`, `account_name`, and the JSON lists `tag_rows`, `history` (oldest first), `tasks`
    (open first, then by due date; at most 20), `notes` (newest first; at most 10), `submissions` (with the lender's
    name, in submission order) and `cashflow` (the account's newest six months). Inside the lists, times are the
    database's UTC text (`queries.parse_instant`) and money is cents."""
    d = _DEAL.first(uow, opportunity_id=deal_id)
    if d is None:
        raise not_found(deal_id, "opportunity")
    return d


_PIPELINES = Query(
    select(_PIP.c.id, _PIP.c.name).where(_PIP.c.tenant_id == TENANT).order_by(_PIP.c.position, _PIP.c.name)
)
_STAGES = Query(
    select(*(_STG.c[k] for k in ("id", "pipeline_id", "name", "kind", "probability", "open_count", "open_amount",
                                 "stale_days")))
    .where(_STG.c.tenant_id == TENANT)
    .order_by(_STG.c.position)
)  # fmt: skip


def pipelines(uow: UnitOfWork) -> list[tuple[Any, list[Any]]]:
    """Each pipeline with its stages in order (their open counts and amounts are kept by the write path above)."""
    by_pipeline: dict[str, list[Any]] = {}
    for s in _STAGES.rows(uow):
        by_pipeline.setdefault(s.pipeline_id, []).append(s)
    return [(p, by_pipeline.get(p.id, [])) for p in _PIPELINES.rows(uow)]
