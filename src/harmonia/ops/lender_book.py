"""One lender with its guidelines and latest submissions, and a deal's one-page submission brief as data — what the
web UI's lender page and printable brief show (REST too; not MCP tools: the `lender_match_brief` prompt carries the
same brief to a model)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from ..services import lenders as svc
from .common import RecordId
from .mca import GUIDELINES
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]

# Beyond the match's guidelines: what a broker reads on the lender's page before sending a file.
TERMS = ("max_advance_to_revenue", "term_min_months", "term_max_months", "statements_required_months",
         "preferred_industries", "median_hours_to_decision")  # fmt: skip


class LendersGet(InputModel):
    lender_id: RecordId


class LenderDetail(OutputModel):
    id: str
    name: str
    status: str
    submission_email: str | None = None
    guidelines: dict[str, Any] = {}
    notes: str | None = None
    guidelines_updated: date | None = None
    submissions: list[dict[str, Any]] = []


def lenders_get(ctx: OpContext, args: LendersGet) -> LenderDetail:
    lender, subs = svc.get_lender(ctx.uow, args.lender_id)
    return LenderDetail(
        id=lender.id,
        name=lender.name,
        status=lender.status,
        submission_email=lender.submission_email,
        guidelines={g: v for g in (*GUIDELINES, *TERMS) if (v := getattr(lender, g)) not in (None, [])},
        notes=lender.notes,
        guidelines_updated=lender.guidelines_updated_at,
        submissions=[
            {k: v for k, v in {"id": s.id, "opportunity_id": s.opportunity_id, "deal": name, "status": s.status,
                               "submitted_at": s.submitted_at.isoformat(),
                               "decided_at": s.decided_at.isoformat() if s.decided_at else None,
                               "offer_amount": s.offer_amount, "factor_rate": s.factor_rate,
                               "decline_reason": s.decline_reason}.items() if v is not None}
            for s, name in subs
        ],
    )  # fmt: skip


class LendersBrief(InputModel):
    opportunity_id: RecordId
    lender_id: RecordId | None = Field(None, json_schema_extra=rest_only(description="default: the best match"))


class Brief(OutputModel):
    brief: dict[str, Any]


def lenders_brief(ctx: OpContext, args: LendersBrief) -> Brief:
    return Brief(brief=svc.lender_brief(ctx.uow, args.opportunity_id, args.lender_id))


OPERATIONS = [
    Operation(
        name="lenders_get",
        title="Get a lender",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="One lender: its guidelines (deal size, revenue, time in business, credit, industries, states) "
        "and its latest submissions with their outcomes.",
        input=LendersGet,
        output=LenderDetail,
        handler=lenders_get,
        rest=("GET", "/lenders/{lender_id}"),
        mcp=False,
    ),
    Operation(
        name="lenders_brief",
        title="Submission brief of a deal",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="The one-page submission brief of a deal for one lender (default: the best match) as data: the "
        "ask, the match rule by rule, business, cashflow, positions, strengths and risks, documents, history.",
        input=LendersBrief,
        output=Brief,
        handler=lenders_brief,
        rest=("GET", "/opportunities/{opportunity_id}/brief"),
        mcp=False,
    ),
]
