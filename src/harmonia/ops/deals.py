"""Deal operations: the morning-brief and stale-deal lists, one deal in full, create/update/move, the board."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Select, select

from ..models import CashflowMonth, Lender, Note, Opportunity, Pipeline, Stage, StageChange, Submission, Task, utcnow
from ..services import deals as svc
from ..services import tags as tag_service
from ..services.paging import page
from ..services.records import get_or_404, snapshot
from .common import Dollars, Page, PageArgs, RecordId, Since
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS", "DealOut", "deal_out"]


class DealOut(OutputModel):
    id: str
    name: str
    stage: str | None = None
    stage_id: str
    status: str
    amount: float | None = None
    contact_id: str | None = None
    account_id: str | None = None
    owner_id: str | None = None
    tags: list[str] | None = None
    last_activity_at: datetime | None = None
    days_idle: int | None = None
    stage_entered_at: datetime | None = None
    updated_at: datetime | None = None


def deal_out(d: Opportunity, stage_names: dict[str, str], tags: list[str] | None = None) -> DealOut:
    idle = (utcnow() - d.last_activity_at).days if d.last_activity_at else None
    return DealOut(
        id=d.id,
        name=d.name,
        stage=stage_names.get(d.stage_id),
        stage_id=d.stage_id,
        status=d.status,
        amount=d.amount,
        contact_id=d.contact_id,
        account_id=d.account_id,
        owner_id=d.owner_id,
        tags=tags or None,
        last_activity_at=d.last_activity_at,
        days_idle=idle,
        stage_entered_at=d.stage_entered_at,
        updated_at=d.updated_at,
    )


def _stage_names(ctx: OpContext) -> dict[str, str]:
    return dict(ctx.session.execute(select(Stage.id, Stage.name)).all())


class OpportunitiesList(PageArgs):
    pipeline: str | None = Field(None, description="id or name")
    stage: str | None = Field(None, description="id or exact name")
    status: Literal["open", "won", "lost"] | None = None
    owner_id: RecordId | None = None
    contact_id: RecordId | None = None
    account_id: RecordId | None = None
    amount_min: Dollars | None = None
    amount_max: Dollars | None = None
    updated_since: Since | None = Field(None, description="changed since (morning brief)")
    stale_days: int | None = Field(None, ge=1, le=365, description="open deals idle N+ days")
    sort: Literal["updated_desc", "idle_desc", "amount_desc"] = "updated_desc"


def opportunities_list(ctx: OpContext, args: OpportunitiesList) -> Page[DealOut]:
    stmt: Select[Any] = select(Opportunity)
    pipeline_id = svc.resolve_pipeline(ctx.uow, args.pipeline).id if args.pipeline else None
    if pipeline_id:
        stmt = stmt.where(Opportunity.pipeline_id == pipeline_id)
    if args.stage:
        stmt = stmt.where(Opportunity.stage_id == svc.resolve_stage(ctx.uow, pipeline_id, args.stage).id)
    for field in ("owner_id", "contact_id", "account_id"):
        if value := getattr(args, field):
            stmt = stmt.where(getattr(Opportunity, field) == value)
    if args.amount_min is not None:
        stmt = stmt.where(Opportunity.amount >= args.amount_min)
    if args.amount_max is not None:
        stmt = stmt.where(Opportunity.amount <= args.amount_max)
    if args.updated_since:
        stmt = stmt.where(Opportunity.updated_at >= args.updated_since)
    sort, descending = {
        "updated_desc": (Opportunity.updated_at, True),
        "amount_desc": (Opportunity.amount, True),
        "idle_desc": (Opportunity.last_activity_at, False),
    }[args.sort]
    if args.stale_days:
        stmt = stmt.where(
            Opportunity.status == "open", Opportunity.last_activity_at <= utcnow() - timedelta(days=args.stale_days)
        )
        sort, descending = Opportunity.last_activity_at, False  # oldest first: the most neglected on top
    elif args.status:
        stmt = stmt.where(Opportunity.status == args.status)
    if sort is Opportunity.amount:
        stmt = stmt.where(Opportunity.amount.is_not(None))
    rows, cursor = page(
        ctx.session,
        stmt,
        sort=sort,
        tiebreak=Opportunity.id,
        descending=descending,
        limit=args.limit,
        cursor=args.cursor,
    )
    names = _stage_names(ctx)
    tags = tag_service.names_for(ctx.uow, "opportunity", [d.id for d in rows])
    return Page[DealOut](items=[deal_out(d, names, tags.get(d.id)) for d in rows], next_cursor=cursor)


class OpportunitiesGet(InputModel):
    opportunity_id: RecordId


class DealDetail(DealOut):
    pipeline_id: str
    source: str | None = None
    expected_close: date | None = None
    closed_reason: str | None = None
    mca: dict[str, Any] | None = None
    stage_history: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    submissions: list[dict[str, Any]] = []
    cashflow: list[dict[str, Any]] = []


MCA_FIELDS = ("requested_amount", "funded_amount", "factor_rate", "term_days", "payment_frequency", "position",
              "fico", "use_of_funds", "existing_positions", "documents")  # fmt: skip


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime | date) else v) for k, v in d.items() if v not in (None, [], {})
    }


def opportunities_get(ctx: OpContext, args: OpportunitiesGet) -> DealDetail:
    s = ctx.session
    d = get_or_404(ctx.uow, Opportunity, args.opportunity_id, "opportunity")
    names = _stage_names(ctx)
    base = deal_out(d, names, tag_service.names_for(ctx.uow, "opportunity", [d.id]).get(d.id))
    history = s.scalars(select(StageChange).where(StageChange.opportunity_id == d.id).order_by(StageChange.at))
    tasks = s.scalars(
        select(Task)
        .where(Task.record_type == "opportunity", Task.record_id == d.id)
        .order_by(Task.status.desc(), Task.due_at)
        .limit(20)
    )
    notes = s.scalars(
        select(Note)
        .where(Note.record_type == "opportunity", Note.record_id == d.id)
        .order_by(Note.created_at.desc())
        .limit(10)
    )
    lenders = dict(s.execute(select(Lender.id, Lender.name)).all())
    subs = s.scalars(select(Submission).where(Submission.opportunity_id == d.id).order_by(Submission.submitted_at))
    cash = (
        s.scalars(
            select(CashflowMonth)
            .where(CashflowMonth.account_id == d.account_id)
            .order_by(CashflowMonth.month.desc())
            .limit(6)
        )
        if d.account_id
        else []
    )
    return DealDetail(
        **base.model_dump(exclude_none=True),
        pipeline_id=d.pipeline_id,
        source=d.source,
        expected_close=d.expected_close,
        closed_reason=d.closed_reason,
        mca=_clean({f: getattr(d, f) for f in MCA_FIELDS}) or None,
        stage_history=[
            _clean(
                {
                    "from": names.get(h.from_stage_id or ""),
                    "to": names.get(h.to_stage_id),
                    "at": h.at,
                    "by": h.created_by,
                    "via": h.created_via,
                    "reason": h.reason,
                }
            )
            for h in history
        ],
        tasks=[_clean({"id": t.id, "title": t.title, "status": t.status, "due_at": t.due_at}) for t in tasks],
        notes=[_clean({"id": n.id, "body": n.body[:300], "at": n.created_at, "by": n.author_id}) for n in notes],
        submissions=[
            _clean(
                {
                    "id": x.id,
                    "lender": lenders.get(x.lender_id),
                    "lender_id": x.lender_id,
                    "status": x.status,
                    "submitted_at": x.submitted_at,
                    "offer_amount": x.offer_amount,
                    "factor_rate": x.factor_rate,
                    "decline_reason": x.decline_reason,
                }
            )
            for x in subs
        ],
        cashflow=[
            _clean(
                {
                    "month": c.month,
                    "partial": c.is_partial or None,
                    "deposits": c.deposits_total,
                    "revenue": c.true_revenue,
                    "adb": c.avg_daily_balance,
                    "nsf": c.nsf_count,
                    "negative_days": c.negative_days,
                }
            )
            for c in cash
        ],
    )


class _DealFields(InputModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    contact_id: RecordId | None = None
    account_id: RecordId | None = None
    amount: Dollars | None = None
    owner_id: RecordId | None = None
    source: str | None = Field(None, max_length=40)
    expected_close: date | None = None
    requested_amount: Dollars | None = None
    factor_rate: float | None = Field(None, ge=1, le=2)
    term_days: int | None = Field(None, ge=1, le=1000, description="business days")
    payment_frequency: Literal["daily", "weekly"] | None = None
    position: int | None = Field(None, ge=1, le=10)
    fico: int | None = Field(None, ge=300, le=850)
    use_of_funds: str | None = Field(None, max_length=500)


class OpportunitiesCreate(_DealFields):
    name: str = Field(min_length=1, max_length=200)
    pipeline: str | None = Field(None, description="id or name; default the first")
    stage: str | None = Field(None, description="id or name; default the first open stage")


def opportunities_create(ctx: OpContext, args: OpportunitiesCreate) -> DealOut:
    values = args.model_dump(exclude={"pipeline", "stage"}, exclude_none=True)
    if "owner_id" not in values and ctx.actor.user_id:
        values["owner_id"] = ctx.actor.user_id
    d = svc.create(ctx.uow, values, pipeline=args.pipeline, stage=args.stage)
    ctx.audit_target("opportunity", d.id, after=snapshot(d, ("name", "amount", "stage_id")))
    return deal_out(d, _stage_names(ctx))


class OpportunitiesUpdate(_DealFields):
    opportunity_id: RecordId
    funded_amount: Dollars | None = None


def opportunities_update(ctx: OpContext, args: OpportunitiesUpdate) -> DealOut:
    d = get_or_404(ctx.uow, Opportunity, args.opportunity_id, "opportunity")
    before = svc.update(ctx.uow, d, args.model_dump(exclude={"opportunity_id"}, exclude_unset=True))
    ctx.audit_target("opportunity", d.id, before=before, after={k: getattr(d, k) for k in before})
    return deal_out(d, _stage_names(ctx))


class OpportunitiesMoveStage(InputModel):
    opportunity_id: RecordId
    stage: str = Field(min_length=1, max_length=120, description="id or exact name")
    reason: str | None = Field(None, max_length=300, description="required for a won or lost stage")


class MoveResult(DealOut):
    moved: bool
    from_stage: str | None = None


def opportunities_move_stage(ctx: OpContext, args: OpportunitiesMoveStage) -> MoveResult:
    d = get_or_404(ctx.uow, Opportunity, args.opportunity_id, "opportunity")
    target, previous = svc.move_stage(ctx.uow, d, args.stage, args.reason)
    if previous is not None:
        ctx.audit_target("opportunity", d.id, before={"stage": previous.name}, after={"stage": target.name})
    out = deal_out(d, _stage_names(ctx))
    return MoveResult(
        **out.model_dump(exclude_none=True), moved=previous is not None, from_stage=previous.name if previous else None
    )


class PipelinesList(InputModel):
    pass


class StageOut(OutputModel):
    id: str
    name: str
    kind: str
    probability: float
    open_count: int
    open_amount: float
    stale_days: int | None = None


class PipelineOut(OutputModel):
    id: str
    name: str
    stages: list[StageOut]


def pipelines_list(ctx: OpContext, args: PipelinesList) -> Page[PipelineOut]:
    stages = list(ctx.session.scalars(select(Stage).order_by(Stage.position)))
    items = [
        PipelineOut(id=p.id, name=p.name, stages=[
            StageOut(id=s.id, name=s.name, kind=s.kind, probability=s.probability, open_count=s.open_count,
                     open_amount=s.open_amount, stale_days=s.stale_days) for s in stages if s.pipeline_id == p.id])
        for p in ctx.session.scalars(select(Pipeline).order_by(Pipeline.position, Pipeline.name))
    ]  # fmt: skip
    return Page[PipelineOut](items=items)


OPERATIONS = [
    Operation(
        name="opportunities_list",
        title="List deals",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Deals, most recently changed first (with stale_days: longest idle first), each with its stage "
        "name and days_idle.",
        input=OpportunitiesList,
        output=Page[DealOut],
        handler=opportunities_list,
        rest=("GET", "/opportunities"),
    ),
    Operation(
        name="opportunities_get",
        title="Get a deal",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="One deal in full: MCA terms, stage history, tasks, notes, lender submissions and offers, "
        "cashflow.",
        input=OpportunitiesGet,
        output=DealDetail,
        handler=opportunities_get,
        rest=("GET", "/opportunities/{opportunity_id}"),
    ),
    Operation(
        name="pipelines_list",
        title="List pipelines",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Pipelines with their ordered stages and the count and amount of open deals in each.",
        input=PipelinesList,
        output=Page[PipelineOut],
        handler=pipelines_list,
        rest=("GET", "/pipelines"),
    ),
    Operation(
        name="opportunities_create",
        title="Create a deal",
        scope=Scope.WRITE,
        read_only=False,
        description="Create a deal for a contact and/or account, with its MCA terms if known.",
        input=OpportunitiesCreate,
        output=DealOut,
        handler=opportunities_create,
        rest=("POST", "/opportunities"),
    ),
    Operation(
        name="opportunities_update",
        title="Update a deal",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        description="Change the given fields of a deal. Never the stage: opportunities_move_stage does that and "
        "records the history.",
        input=OpportunitiesUpdate,
        output=DealOut,
        handler=opportunities_update,
        rest=("PATCH", "/opportunities/{opportunity_id}"),
    ),
    Operation(
        name="opportunities_move_stage",
        title="Move a deal to a stage",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        description="Move a deal to a stage (kept in its history); a won or lost stage closes it. An unknown stage "
        "is refused with the list of stages.",
        input=OpportunitiesMoveStage,
        output=MoveResult,
        handler=opportunities_move_stage,
        rest=("POST", "/opportunities/{opportunity_id}/stage"),
    ),
]
