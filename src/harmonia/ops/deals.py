"""Deal operations: the morning-brief and stale-deal lists, one deal in full, create/update/move, the board."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from ..models import Opportunity, utcnow
from ..services import deals as svc
from ..services import tags as tag_service
from ..services.records import get_or_404, snapshot
from .common import AccountId, ContactId, DealId, Dollars, Page, PageArgs, Since, UserId
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
    contact_name: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    tags: list[str] | None = None
    last_activity_at: datetime | None = None
    days_idle: int | None = None
    stage_entered_at: datetime | None = None
    updated_at: datetime | None = None


def full_name(first: str | None, last: str | None) -> str | None:
    return f"{first or ''} {last or ''}".strip() or None


def deal_out(
    d: Any, stage_names: dict[str, str] | None = None, tags: list[str] | None = None, *, now: datetime | None = None
) -> DealOut:
    """`d`: a row of the deal reads (with the names of its stage, owner, contact and account), or a model object
    (a write's answer: names from `stage_names` only)."""
    # never negative: an activity stamped a moment ahead of this server's clock (another server's) is "today"
    idle = max(0, ((now or utcnow()) - d.last_activity_at).days) if d.last_activity_at else None
    return DealOut(
        id=d.id,
        name=d.name,
        stage=getattr(d, "stage_name", None) or (stage_names or {}).get(d.stage_id),
        stage_id=d.stage_id,
        status=d.status,
        amount=d.amount,
        contact_id=d.contact_id,
        contact_name=full_name(getattr(d, "contact_first_name", None), getattr(d, "contact_last_name", None)),
        account_id=d.account_id,
        account_name=getattr(d, "account_name", None),
        owner_id=d.owner_id,
        owner_name=getattr(d, "owner_name", None),
        tags=tags or None,
        last_activity_at=d.last_activity_at,
        days_idle=idle,
        stage_entered_at=d.stage_entered_at,
        updated_at=d.updated_at,
    )


def _stage_names(ctx: OpContext) -> dict[str, str]:
    return svc.stage_names(ctx.uow)


class OpportunitiesList(PageArgs):
    pipeline: str | None = Field(None, description="id or name")
    stage: str | None = Field(None, description="id or exact name")
    status: Literal["open", "won", "lost"] | None = None
    owner_id: UserId | None = None
    contact_id: ContactId | None = None
    account_id: AccountId | None = None
    amount_min: Dollars | None = None
    amount_max: Dollars | None = None
    updated_since: Since | None = Field(None, description="changed since (morning brief)")
    stale_days: int | None = Field(None, ge=1, le=365, description="open deals idle N+ days")
    sort: Literal["updated_desc", "idle_desc", "amount_desc"] = "updated_desc"


def opportunities_list(ctx: OpContext, args: OpportunitiesList) -> Page[DealOut]:
    filters = {f: getattr(args, f) for f in ("status", "owner_id", "contact_id", "account_id", "amount_min",
                                             "amount_max", "updated_since")}  # fmt: skip
    rows, cursor = svc.list_deals(ctx.uow, pipeline=args.pipeline, stage=args.stage, filters=filters,
                                  stale_days=args.stale_days, sort=args.sort, limit=args.limit,
                                  cursor=args.cursor)  # fmt: skip
    tags = tag_service.names_for(ctx.uow, "opportunity", [d.id for d in rows])
    now = utcnow()
    return Page[DealOut](items=[deal_out(d, None, tags.get(d.id), now=now) for d in rows], next_cursor=cursor)


class OpportunitiesGet(InputModel):
    opportunity_id: DealId


class DealDetail(DealOut):
    owner_name: str | None = None
    contact_name: str | None = None
    account_name: str | None = None
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
    """Without the empty values. Times stay datetimes: the result's serialisation writes every instant one way."""
    return {k: v for k, v in d.items() if v not in (None, [], {})}


_cents, _instant = svc.cents, svc.instant_text


def opportunities_get(ctx: OpContext, args: OpportunitiesGet) -> DealDetail:
    d = svc.get_deal(ctx.uow, args.opportunity_id)  # one statement: the deal and its lists (services/deals.py)
    base = deal_out(d, {d.stage_id: d.stage} if d.stage else {}, [t["name"] for t in d.tag_rows or ()])
    # Built without a second validation: every value comes typed from that statement (registry.invoke accepts an
    # instance of the declared output as it is).
    names = {"owner_name": d.owner_name, "contact_name": d.contact_name, "account_name": d.account_name}
    return DealDetail.model_construct(
        **{**{k: v for k, v in base if v is not None}, **{k: v for k, v in names.items() if v is not None}},
        pipeline_id=d.pipeline_id,
        source=d.source,
        expected_close=d.expected_close,
        closed_reason=d.closed_reason,
        mca=_clean({f: getattr(d, f) for f in MCA_FIELDS}) or None,
        stage_history=[
            _clean({"from": h["from"], "to": h["to"], "at": _instant(h["at"]), "by": h["by"],
                    "by_name": h.get("by_name"), "via": h["via"],
                    "reason": h["reason"]})
            for h in d.history or ()
        ],
        tasks=[_clean({"id": t["id"], "title": t["title"], "status": t["status"], "due_at": _instant(t["due_at"])})
               for t in d.tasks or ()],
        notes=[_clean({"id": n["id"], "body": n["body"], "at": _instant(n["at"]), "by": n["by"],
                        "by_name": n.get("by_name")})
               for n in d.notes or ()],
        submissions=[
            _clean({**x, "submitted_at": _instant(x["submitted_at"]), "offer_amount": _cents(x["offer_amount"])})
            for x in d.submissions or ()
        ],
        cashflow=[
            _clean({"month": c["month"], "partial": bool(c["partial"]) or None, "deposits": _cents(c["deposits"]),
                    "revenue": _cents(c["revenue"]), "adb": _cents(c["adb"]), "nsf": c["nsf"],
                    "negative_days": c["negative_days"]})
            for c in d.cashflow or ()
        ],
    )  # fmt: skip


class _DealFields(InputModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    contact_id: ContactId | None = None
    account_id: AccountId | None = None
    amount: Dollars | None = None
    owner_id: UserId | None = None
    source: str | None = Field(None, max_length=40)
    expected_close: date | None = None
    requested_amount: Dollars | None = Field(None, description="the merchant's ask; USD, not cents")
    factor_rate: float | None = Field(None, ge=1, le=2)
    term_days: int | None = Field(None, ge=1, le=1000, description="business days")
    payment_frequency: Literal["daily", "weekly"] | None = None
    position: int | None = Field(None, ge=1, le=10, description="1 = first advance")
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
    return deal_out(svc.deal_row(ctx.uow, d.id))


class OpportunitiesUpdate(_DealFields):
    opportunity_id: DealId
    funded_amount: Dollars | None = None


def opportunities_update(ctx: OpContext, args: OpportunitiesUpdate) -> DealOut:
    d = get_or_404(ctx.uow, Opportunity, args.opportunity_id, "opportunity")
    before = svc.update(ctx.uow, d, args.model_dump(exclude={"opportunity_id"}, exclude_unset=True))
    ctx.audit_target("opportunity", d.id, before=before, after={k: getattr(d, k) for k in before})
    return deal_out(svc.deal_row(ctx.uow, d.id))


class OpportunitiesMoveStage(InputModel):
    opportunity_id: DealId
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
    out = deal_out(svc.deal_row(ctx.uow, d.id))
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
    """Counts and amounts per stage are kept in the write path (services.deals): nothing is counted here."""
    return Page[PipelineOut](
        items=[
            PipelineOut(id=p.id, name=p.name, stages=[
                StageOut(id=s.id, name=s.name, kind=s.kind, probability=s.probability, open_count=s.open_count,
                         open_amount=s.open_amount, stale_days=s.stale_days)
                for s in stages
            ])
            for p, stages in svc.pipelines(ctx.uow)
        ]
    )  # fmt: skip


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
