"""The `reports` toolset (SPEC §8): `reports_pipeline` (flow, conversion and days per stage) and `reports_lenders`
(submissions, decisions, offers and funding per lender), each over whole local days against the days just before.
`reports_activity` stays in `core` (ops/reports.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from ..services import flow_reports as svc
from .common import RecordId
from .registry import OpContext, Operation, Scope
from .schema import REST_ONLY, InputModel, OutputModel

__all__ = ["OPERATIONS"]


def _iso_day(value: Any) -> Any:
    """A local day as ISO text (YYYY-MM-DD). A bare number is refused: pydantic would read it as a Unix time."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a day such as 2026-11-24")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("expected a day such as 2026-11-24") from None
    if not 1900 <= day.year <= 2999:
        raise ValueError("days run from the year 1900 to 2999")
    return day


Day = Annotated[date, BeforeValidator(_iso_day),
                Field(json_schema_extra={REST_ONLY: {"pattern": r"^(19|2\d)\d\d-\d\d-\d\d$"}})]  # fmt: skip
Period = Literal["week", "month", "quarter"]
_PERIOD: Any = Field("month", description="week = the last 7 local days including today, month = 30, quarter = 90; "
                                     "ignored when `since` is given")  # fmt: skip
_SINCE = Field(None, description="first local day (YYYY-MM-DD) of a custom period, at most 366 days")
_UNTIL = Field(None, description="last local day (YYYY-MM-DD) of the period, included; default today")


class Span(OutputModel):
    since: date
    until: date


class StageFigures(OutputModel):
    entered: int
    exited_forward: int
    lost: int
    conversion_pct: float | None = None
    median_days_in_stage: float | None = None


class StageFlow(StageFigures):
    stage_id: str
    name: str
    kind: str
    previous: StageFigures


class PipelineTotals(OutputModel):
    new_deals: int
    won: int
    lost: int
    previous_new_deals: int
    previous_won: int
    previous_lost: int


class PipelineReport(OutputModel):
    pipeline_id: str
    pipeline: str
    owner_id: str | None = None
    owner: str | None = None
    timezone: str
    current: Span
    previous: Span
    stages: list[StageFlow]
    totals: PipelineTotals


class ReportsPipeline(InputModel):
    pipeline_id: str | None = Field(None, max_length=120, description="pipeline id or name; default the first")
    period: Period = _PERIOD
    since: Day | None = _SINCE
    until: Day | None = _UNTIL
    owner_id: RecordId | None = Field(None, description="a user id (us_…): only deals this user owned at the move")


def _stage_figures(flow: svc.Flow, stage_id: str) -> StageFigures:
    c = flow.counts.get(stage_id, {})
    entered, forward, lost = c.get("entered", 0), c.get("forward", 0), c.get("lost", 0)
    # Of the deals that left the stage in the period, the share that moved on. Not forward/entered: deals that entered
    # before the period leave within it, so that ratio runs past 100% (161% on the demo data's month).
    left = forward + lost
    return StageFigures(entered=entered, exited_forward=forward, lost=lost,
                        conversion_pct=round(100 * forward / left, 1) if left else None,
                        median_days_in_stage=svc.median_of_bins(flow.bins.get(stage_id, {})))  # fmt: skip


def reports_pipeline(ctx: OpContext, args: ReportsPipeline) -> PipelineReport:
    win = svc.window(ctx.uow, args.period, args.since, args.until)
    flow = svc.pipeline_flow(ctx.uow, win, args.pipeline_id, args.owner_id)
    stages = []
    for s in flow.stages:
        now, before = _stage_figures(flow.current, s.id), _stage_figures(flow.previous, s.id)
        stages.append(StageFlow(stage_id=s.id, name=s.name, kind=s.kind, previous=before, **now.model_dump()))

    def total(f: svc.Flow, metric: str, kind: str | None = None) -> int:
        return sum(f.counts.get(s.id, {}).get(metric, 0) for s in flow.stages if kind is None or s.kind == kind)

    totals = PipelineTotals(
        new_deals=total(flow.current, "new"), won=total(flow.current, "entered", "won"),
        lost=total(flow.current, "entered", "lost"), previous_new_deals=total(flow.previous, "new"),
        previous_won=total(flow.previous, "entered", "won"), previous_lost=total(flow.previous, "entered", "lost"),
    )  # fmt: skip
    return PipelineReport(
        pipeline_id=flow.pipeline[0], pipeline=flow.pipeline[1],
        owner_id=flow.owner[0] if flow.owner else None, owner=flow.owner[1] if flow.owner else None,
        timezone=str(win.timezone), current=Span(since=win.first, until=win.last),
        previous=Span(since=win.previous_first, until=win.previous_last), stages=stages, totals=totals,
    )  # fmt: skip


class LenderFigures(OutputModel):
    submissions: int
    approvals: int
    declines: int
    offers: int
    offered_total: float
    offered_avg: float | None = None
    funded: int
    funded_amount: float
    median_hours_to_decision: float | None = None


class LenderRow(LenderFigures):
    lender_id: str
    name: str
    decline_reasons: dict[str, int]
    previous: LenderFigures


class LendersReport(OutputModel):
    timezone: str
    current: Span
    previous: Span
    lenders: list[LenderRow]
    more_lenders: int
    totals: LenderFigures
    previous_totals: LenderFigures


class ReportsLenders(InputModel):
    period: Period = _PERIOD
    since: Day | None = _SINCE
    until: Day | None = _UNTIL
    lender_id: RecordId | None = Field(None, description="a lender id (ln_…): only this lender")
    limit: int = Field(10, ge=1, le=100, description="lenders listed, most submissions first; the rest are counted "
                                                     "in `more_lenders` and in the totals")  # fmt: skip


def _lender_figures(flow: svc.Flow, keys: list[str]) -> LenderFigures:
    def n(metric: str) -> int:
        return sum(flow.counts.get(k, {}).get(metric, 0) for k in keys)

    def dollars(metric: str) -> float:
        return sum(flow.cents.get(k, {}).get(metric, 0) for k in keys) / 100

    bins: dict[int, int] = {}
    for k in keys:
        for v, c in flow.bins.get(k, {}).items():
            bins[v] = bins.get(v, 0) + c
    offers = n("offered")
    return LenderFigures(submissions=n("submitted"), approvals=n("approved"), declines=n("declined"), offers=offers,
                         offered_total=dollars("offered"),
                         offered_avg=round(dollars("offered") / offers, 2) if offers else None,
                         funded=n("funded"), funded_amount=dollars("funded"),
                         median_hours_to_decision=svc.median_of_bins(bins))  # fmt: skip


def reports_lenders(ctx: OpContext, args: ReportsLenders) -> LendersReport:
    win = svc.window(ctx.uow, args.period, args.since, args.until)
    out = svc.lender_outcomes(ctx.uow, win, args.lender_id)
    active = set(out.current.counts) | set(out.previous.counts)
    ranked = sorted(active, key=lambda k: (-out.current.counts[k].get("submitted", 0), out.names[k]))
    rows = []
    for k in ranked[: args.limit]:
        reasons = dict(sorted(out.current.reasons.get(k, {}).items(), key=lambda r: (-r[1], r[0])))
        rows.append(LenderRow(lender_id=k, name=out.names[k], decline_reasons=reasons,
                              previous=_lender_figures(out.previous, [k]),
                              **_lender_figures(out.current, [k]).model_dump()))  # fmt: skip
    return LendersReport(
        timezone=str(win.timezone), current=Span(since=win.first, until=win.last),
        previous=Span(since=win.previous_first, until=win.previous_last), lenders=rows,
        more_lenders=max(0, len(ranked) - args.limit), totals=_lender_figures(out.current, ranked),
        previous_totals=_lender_figures(out.previous, ranked),
    )  # fmt: skip


_ZONE = "Periods are whole days in the workspace's time zone (`timezone`), compared with the same number of days just before (`previous`). "

OPERATIONS = [
    Operation(
        name="reports_pipeline",
        title="Pipeline flow by stage",
        toolset="reports",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Per stage in the period: deals that entered it, left it forward (won included) or to lost; "
        "conversion_pct = exited_forward/(exited_forward+lost)×100; "
        "median_days_in_stage = whole days spent by the deals that "
        "left it (exact under 8, then bands 8/10/14/21/30/45/60/90). " + _ZONE,
        input=ReportsPipeline,
        output=PipelineReport,
        handler=reports_pipeline,
        rest=("GET", "/reports/pipeline"),
    ),
    Operation(
        name="reports_lenders",
        title="Lender outcomes",
        toolset="reports",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Per lender: submissions sent in the period; decisions made in it (approvals, declines with "
        "reasons counted, offers with total/average in dollars, funded count and dollars); median hours from "
        "submission to decision (bands 0/1/2/4/8/12/24/48/72/120/168). " + _ZONE,
        input=ReportsLenders,
        output=LendersReport,
        handler=reports_lenders,
        rest=("GET", "/reports/lenders"),
    ),
]
