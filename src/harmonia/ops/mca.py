"""`lenders_list`: the lender grid, or — given a deal — lenders ranked by the deterministic match."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..services import lenders as svc
from .common import DealId, PageArgs
from .registry import OpContext, Operation, Scope
from .schema import OutputModel, rest_only

__all__ = ["OPERATIONS"]

GUIDELINES = ("min_monthly_revenue", "min_months_in_business", "min_fico", "max_positions", "min_avg_daily_balance",
              "max_nsf_per_month", "max_negative_days", "min_deposit_count", "min_deal_size", "max_deal_size",
              "max_withholding_pct", "excluded_industries", "excluded_states", "paper_grades", "buy_rate_min",
              "buy_rate_max")  # fmt: skip


class LendersList(PageArgs):
    opportunity_id: DealId | None = Field(None, json_schema_extra=rest_only(description="rank lenders for this deal"))


class LenderRow(OutputModel):
    id: str
    name: str
    status: str | None = None
    guidelines: dict[str, Any] | None = None
    verdict: str | None = None
    score: float | None = None
    est_max_advance: float | None = None
    binding_limit: str | None = None
    fails: list[dict[str, Any]] | None = None
    unknowns: list[dict[str, Any]] | None = None
    passes: list[str] | None = None


class LendersPage(OutputModel):
    items: list[LenderRow]
    next_cursor: str | None = None
    deal_metrics: dict[str, Any] | None = None


def lenders_list(ctx: OpContext, args: LendersList) -> LendersPage:
    if args.opportunity_id is None:
        rows, cursor = svc.list_lenders(ctx.uow, limit=args.limit, cursor=args.cursor)
        items = [LenderRow(id=x.id, name=x.name, status=x.status,
                           guidelines={g: v for g in GUIDELINES if (v := getattr(x, g)) not in (None, [])})
                 for x in rows]  # fmt: skip
        return LendersPage(items=items, next_cursor=cursor)
    metrics, chunk, cursor = svc.match_page(ctx.uow, args.opportunity_id, limit=args.limit, cursor=args.cursor)
    items = [
        LenderRow(
            id=x.lender_id,
            name=x.lender,
            verdict=x.verdict,
            score=x.score,
            est_max_advance=x.est_max_advance,
            binding_limit=x.binding_limit,
            fails=[r.as_dict() for r in x.rules if r.result == "fail"] or None,
            unknowns=[r.as_dict() for r in x.rules if r.result == "unknown"] or None,
            passes=[f"{r.rule}: {r.actual} ({r.required})" for r in x.rules if r.result == "pass"] or None,
        )
        for x in chunk
    ]
    return LendersPage(items=items, next_cursor=cursor, deal_metrics=metrics)


OPERATIONS = [
    Operation(
        name="lenders_list",
        title="Lenders and lender match",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="The lender grid. With opportunity_id: lenders ranked by a deterministic match, each with its "
        "estimated max advance and actual vs required for every rule.",
        input=LendersList,
        output=LendersPage,
        handler=lenders_list,
        rest=("GET", "/lenders"),
    ),
]
