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
    details: bool | None = None


class LenderRow(OutputModel):
    id: str
    name: str
    status: str | None = None
    guidelines: dict[str, Any] | None = None
    fit: str | None = None
    summary: str | None = None
    max_amount: float | None = None
    verdict: str | None = None
    score: float | None = None
    binding_limit: str | None = None
    fails: list[str] | None = None
    unknowns: list[str] | None = None
    rules: list[dict[str, Any]] | None = None


class LendersPage(OutputModel):
    items: list[LenderRow]
    next_cursor: str | None = None
    requested_amount: float | None = None
    deal_metrics: dict[str, Any] | None = None


def _rule_line(r: Any) -> str:
    return f"{r.rule}: {r.actual} (needs {r.required})" if r.result == "fail" else f"{r.rule} (needs {r.required})"


def lenders_list(ctx: OpContext, args: LendersList) -> LendersPage:
    if args.opportunity_id is None:
        rows, cursor = svc.list_lenders(ctx.uow, limit=args.limit, cursor=args.cursor)
        items = [LenderRow(id=x.id, name=x.name, status=x.status,
                           guidelines={g: v for g in GUIDELINES if (v := getattr(x, g)) not in (None, [])})
                 for x in rows]  # fmt: skip
        return LendersPage(items=items, next_cursor=cursor)
    metrics, chunk, cursor = svc.match_page(ctx.uow, args.opportunity_id, limit=args.limit, cursor=args.cursor)
    # By default each lender in one line and what stops it (20 lenders stay under 8 KB); the rule table on request.
    items = [
        LenderRow(
            id=x.lender_id,
            name=x.lender,
            fit=x.fit,
            summary=x.summary,
            max_amount=x.max_amount,
            verdict=x.verdict,
            score=x.score,
            binding_limit=x.binding_limit,
            fails=[_rule_line(r) for r in x.rules if r.result == "fail"] or None,
            unknowns=[_rule_line(r) for r in x.rules if r.result == "unknown"] or None,
            rules=[r.as_dict() for r in x.rules] if args.details else None,
        )
        for x in chunk
    ]
    ask = chunk[0].requested_amount if chunk else None
    return LendersPage(items=items, next_cursor=cursor, requested_amount=ask,
                       deal_metrics=metrics if args.details else None)  # fmt: skip


OPERATIONS = [
    Operation(
        name="lenders_list",
        title="Lenders and lender match",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="The lender grid. With opportunity_id: lenders ranked by a deterministic match, whole-ask fits "
        "first, each with fit (full/partial/unknown/none), max_amount, a one-line summary and the rules it fails; "
        "details=true adds every rule's actual vs required.",
        input=LendersList,
        output=LendersPage,
        handler=lenders_list,
        rest=("GET", "/lenders"),
    ),
]
