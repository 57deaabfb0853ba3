"""Deal operations: the morning-brief and stale-deal lists, one deal in full, create/update/move, the board."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import bindparam, select

from ..models import CashflowMonth, Lender, Note, Opportunity, Pipeline, Stage, StageChange, Submission, Task, utcnow
from ..queries import TENANT, Query
from ..services import deals as svc
from ..services import tags as tag_service
from ..services.paging import Listing, at_least, at_most, eq
from ..services.records import get_or_404, not_found, snapshot
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


def deal_out(
    d: Any, stage_names: dict[str, str], tags: list[str] | None = None, *, now: datetime | None = None
) -> DealOut:
    # never negative: an activity stamped a moment ahead of this server's clock (another server's) is "today"
    idle = max(0, ((now or utcnow()) - d.last_activity_at).days) if d.last_activity_at else None
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
    return {r.id: r.name for r in _STAGE_NAMES.rows(ctx.uow)}


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
)  # fmt: skip


def opportunities_list(ctx: OpContext, args: OpportunitiesList) -> Page[DealOut]:
    pipeline_id = svc.resolve_pipeline(ctx.uow, args.pipeline).id if args.pipeline else None
    values: dict[str, Any] = {
        "pipeline_id": pipeline_id,
        "stage_id": svc.resolve_stage(ctx.uow, pipeline_id, args.stage).id if args.stage else None,
        "owner_id": args.owner_id,
        "contact_id": args.contact_id,
        "account_id": args.account_id,
        "amount_min": args.amount_min,
        "amount_max": args.amount_max,
        "updated_since": args.updated_since,
        "status": args.status,
    }
    sort = args.sort
    if args.stale_days:
        # open deals idle for N days, oldest first: the most neglected on top
        values |= {"status": "open", "idle_since": utcnow() - timedelta(days=args.stale_days)}
        sort = "idle_desc"
    if sort == "amount_desc":
        values["has_amount"] = True
    rows, cursor = _DEAL_LIST.page(ctx.uow, values, sort=sort, limit=args.limit, cursor=args.cursor)
    names = _stage_names(ctx)
    tags = tag_service.names_for(ctx.uow, "opportunity", [d.id for d in rows])
    now = utcnow()
    return Page[DealOut](items=[deal_out(d, names, tags.get(d.id), now=now) for d in rows], next_cursor=cursor)


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


# opportunities_get: compiled queries (queries.py), no ORM — it is the second most called read.
_OPP, _STG, _SC, _TSK, _NTE, _SUB, _LND, _CF, _PIP = (
    m.__table__ for m in (Opportunity, Stage, StageChange, Task, Note, Submission, Lender, CashflowMonth, Pipeline)
)
_DEAL = Query(select(_OPP).where(_OPP.c.tenant_id == TENANT, _OPP.c.id == bindparam("opportunity_id")))
_STAGE_NAMES = Query(select(_STG.c.id, _STG.c.name).where(_STG.c.tenant_id == TENANT))
_HISTORY = Query(
    select(_SC.c.from_stage_id, _SC.c.to_stage_id, _SC.c.at, _SC.c.created_by, _SC.c.created_via, _SC.c.reason)
    .where(_SC.c.tenant_id == TENANT, _SC.c.opportunity_id == bindparam("opportunity_id"))
    .order_by(_SC.c.at)
)
_DEAL_TASKS = Query(
    select(_TSK.c.id, _TSK.c.title, _TSK.c.status, _TSK.c.due_at)
    .where(
        _TSK.c.tenant_id == TENANT,
        _TSK.c.record_type == "opportunity",
        _TSK.c.record_id == bindparam("opportunity_id"),
    )
    .order_by(_TSK.c.status.desc(), _TSK.c.due_at)
    .limit(20)
)
_DEAL_NOTES = Query(
    select(_NTE.c.id, _NTE.c.body, _NTE.c.created_at, _NTE.c.author_id)
    .where(
        _NTE.c.tenant_id == TENANT,
        _NTE.c.record_type == "opportunity",
        _NTE.c.record_id == bindparam("opportunity_id"),
    )
    .order_by(_NTE.c.created_at.desc())
    .limit(10)
)
_SUBMISSIONS = Query(
    select(
        _SUB.c.id,
        _LND.c.name.label("lender"),
        _SUB.c.lender_id,
        _SUB.c.status,
        _SUB.c.submitted_at,
        _SUB.c.offer_amount,
        _SUB.c.factor_rate,
        _SUB.c.decline_reason,
    )
    .join_from(_SUB, _LND, (_LND.c.tenant_id == _SUB.c.tenant_id) & (_LND.c.id == _SUB.c.lender_id))
    .where(_SUB.c.tenant_id == TENANT, _LND.c.tenant_id == TENANT, _SUB.c.opportunity_id == bindparam("opportunity_id"))
    .order_by(_SUB.c.submitted_at)
)
_CASHFLOW = Query(
    select(
        _CF.c.month,
        _CF.c.is_partial,
        _CF.c.deposits_total,
        _CF.c.true_revenue,
        _CF.c.avg_daily_balance,
        _CF.c.nsf_count,
        _CF.c.negative_days,
    )
    .where(_CF.c.tenant_id == TENANT, _CF.c.account_id == bindparam("account_id"))
    .order_by(_CF.c.month.desc())
    .limit(6)
)


def opportunities_get(ctx: OpContext, args: OpportunitiesGet) -> DealDetail:
    uow, deal_id = ctx.uow, args.opportunity_id
    d = _DEAL.first(uow, opportunity_id=deal_id)
    if d is None:
        raise not_found(deal_id, "opportunity")
    names = _stage_names(ctx)
    base = deal_out(d, names, tag_service.names_of(uow, "opportunity", deal_id))
    cash = _CASHFLOW.rows(uow, account_id=d.account_id) if d.account_id else []
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
            for h in _HISTORY.rows(uow, opportunity_id=deal_id)
        ],
        tasks=[
            _clean({"id": t.id, "title": t.title, "status": t.status, "due_at": t.due_at})
            for t in _DEAL_TASKS.rows(uow, opportunity_id=deal_id)
        ],
        notes=[
            _clean({"id": n.id, "body": n.body[:300], "at": n.created_at, "by": n.author_id})
            for n in _DEAL_NOTES.rows(uow, opportunity_id=deal_id)
        ],
        submissions=[_clean(x._asdict()) for x in _SUBMISSIONS.rows(uow, opportunity_id=deal_id)],
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


_PIPELINES = Query(
    select(_PIP.c.id, _PIP.c.name).where(_PIP.c.tenant_id == TENANT).order_by(_PIP.c.position, _PIP.c.name)
)
_STAGES = Query(
    select(*(_STG.c[k] for k in ("id", "pipeline_id", "name", "kind", "probability", "open_count", "open_amount",
                                 "stale_days")))
    .where(_STG.c.tenant_id == TENANT)
    .order_by(_STG.c.position)
)  # fmt: skip


def pipelines_list(ctx: OpContext, args: PipelinesList) -> Page[PipelineOut]:
    """Counts and amounts per stage are kept in the write path (services.deals): nothing is counted here."""
    by_pipeline: dict[str, list[StageOut]] = {}
    for s in _STAGES.rows(ctx.uow):
        by_pipeline.setdefault(s.pipeline_id, []).append(
            StageOut(
                id=s.id,
                name=s.name,
                kind=s.kind,
                probability=s.probability,
                open_count=s.open_count,
                open_amount=s.open_amount,
                stale_days=s.stale_days,
            )
        )
    return Page[PipelineOut](
        items=[PipelineOut(id=p.id, name=p.name, stages=by_pipeline.get(p.id, [])) for p in _PIPELINES.rows(ctx.uow)]
    )


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
