"""Lenders and the lender match over the CRM's rows: facts in, the pure `harmonia.mca` match out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..db import UnitOfWork
from ..errors import NotFound
from ..mca.match import DealFacts, LenderTerms, Match, MonthFacts, metrics, rank
from ..models import Account, CashflowMonth, Contact, Lender, Opportunity, Submission, User, utcnow
from .paging import DEFAULT_LIMIT, decode_offset, page
from .records import get_or_404

__all__ = ["deal_facts", "get_lender", "lender_brief", "lender_terms", "list_lenders", "match_lenders", "match_page"]

_TERM_FIELDS = tuple(f for f in LenderTerms.__dataclass_fields__ if f not in ("id", "name", "status"))


def lender_terms(lender: Lender) -> LenderTerms:
    values: dict[str, Any] = {}
    for f in _TERM_FIELDS:
        v = getattr(lender, f)
        values[f] = tuple(v) if isinstance(v, list) else v
    return LenderTerms(id=lender.id, name=lender.name, status=lender.status, **values)


def deal_facts(uow: UnitOfWork, opp: Opportunity) -> tuple[DealFacts, Account | None, list[CashflowMonth]]:
    account = uow.session.scalar(select(Account).where(Account.id == opp.account_id)) if opp.account_id else None
    months = list(uow.session.scalars(select(CashflowMonth).where(CashflowMonth.account_id == opp.account_id)
                                      .order_by(CashflowMonth.month))) if opp.account_id else []  # fmt: skip
    facts = DealFacts(
        requested_amount=opp.requested_amount or opp.amount, fico=opp.fico or (account.owner_fico if account else None),
        state=account.state if account else None, naics=account.naics if account else None,
        risk_tags=tuple(account.risk_tags or ()) if account else (), entity_type=account.entity_type if account else None,
        business_start=account.business_start_date if account else None,
        open_bankruptcy=bool(account.open_bankruptcy) if account else False,
        positions=tuple(opp.existing_positions or ()),
        months=tuple(MonthFacts(m.month, m.deposits_total, m.deposit_count, m.true_revenue, m.avg_daily_balance,
                                m.nsf_count, m.negative_days, m.is_partial) for m in months),
        as_of=utcnow().date(),
    )  # fmt: skip
    return facts, account, months


def match_lenders(uow: UnitOfWork, opportunity_id: str) -> tuple[Opportunity, dict[str, Any], list[Match]]:
    opp = get_or_404(uow, Opportunity, opportunity_id, "opportunity")
    facts, _, _ = deal_facts(uow, opp)
    lenders = [lender_terms(x) for x in uow.session.scalars(select(Lender).order_by(Lender.name))]
    return opp, metrics(facts), rank(facts, lenders)


def list_lenders(uow: UnitOfWork, *, limit: int | None, cursor: str | None) -> tuple[list[Lender], str | None]:
    """The lender grid, by name."""
    return page(uow.session, select(Lender), sort=Lender.name, tiebreak=Lender.id, descending=False, limit=limit,
                cursor=cursor)  # fmt: skip


def match_page(
    uow: UnitOfWork, opportunity_id: str, *, limit: int | None, cursor: str | None
) -> tuple[dict[str, Any], list[Match], str | None]:
    """One page of the lenders ranked for a deal: (the deal's metrics, the page, the next page's cursor)."""
    start = decode_offset(cursor)
    limit = limit or DEFAULT_LIMIT
    _, metrics_, matches = match_lenders(uow, opportunity_id)
    more = start + limit < len(matches)
    return metrics_, matches[start : start + limit], str(start + limit) if more else None


def lender_brief(uow: UnitOfWork, opportunity_id: str, lender_id: str | None = None) -> dict[str, Any]:
    """The one-page submission brief's payload. Keys: deal (ask), lender, match (verdict, score, binding limit,
    rules), business, metrics, cashflow (months + averages), existing_positions, strengths, risks, documents,
    submission_history, as_of. Never SSN, date of birth or account numbers (they are not stored)."""
    opp, m, matches = match_lenders(uow, opportunity_id)
    if not matches:
        raise NotFound("this workspace has no lenders yet")
    if lender_id:
        chosen = next((x for x in matches if x.lender_id == lender_id), None)
        if chosen is None:
            raise NotFound(f"no lender with id {lender_id!r}; lenders_list shows them", field="lender_id")
    else:
        chosen = matches[0]
    facts, account, months = deal_facts(uow, opp)
    lender = uow.session.scalar(select(Lender).where(Lender.id == chosen.lender_id))
    lenders = {x.id: x.name for x in uow.session.scalars(select(Lender))}
    subs = uow.session.scalars(select(Submission).where(Submission.opportunity_id == opp.id)
                               .order_by(Submission.submitted_at))  # fmt: skip
    strengths, risks = _strengths_and_risks(m)
    docs = opp.documents or {}
    contact = uow.session.scalar(select(Contact).where(Contact.id == opp.contact_id)) if opp.contact_id else None
    owner = uow.session.scalar(select(User.name).where(User.id == opp.owner_id)) if opp.owner_id else None
    return {
        "deal": {"id": opp.id, "name": opp.name, "requested_amount": opp.requested_amount or opp.amount,
                 "contact_name": f"{contact.first_name or ''} {contact.last_name or ''}".strip() or None
                 if contact else None, "owner_name": owner,
                 "position": opp.position or len(opp.existing_positions or []) + 1,
                 "payment_frequency": opp.payment_frequency, "use_of_funds": opp.use_of_funds},
        "lender": {"id": chosen.lender_id, "name": chosen.lender,
                   "submission_email": lender.submission_email if lender else None,
                   "guidelines_updated": lender.guidelines_updated_at.isoformat()
                   if lender and lender.guidelines_updated_at else None},
        "match": chosen.as_dict(),
        "business": {"name": account.name if account else None, "legal_name": account.legal_name if account else None,
                     "entity": facts.entity_type, "state": facts.state, "industry": account.industry if account else None,
                     "naics": facts.naics, "months_in_business": m.get("months_in_business"), "fico": m.get("fico"),
                     "paper_grade": m.get("paper_grade")},
        "metrics": m,
        "cashflow": [{"month": c.month, "partial": c.is_partial, "deposits": c.deposits_total,
                      "revenue": c.true_revenue, "deposit_count": c.deposit_count, "adb": c.avg_daily_balance,
                      "ending_balance": c.ending_balance, "nsf": c.nsf_count, "negative_days": c.negative_days}
                     for c in months],
        "existing_positions": list(opp.existing_positions or []),
        "strengths": strengths, "risks": risks,
        "documents": {"application_signed": docs.get("application_signed"), "statements": docs.get("statements", []),
                      "id": bool(docs.get("id")), "voided_check": bool(docs.get("voided_check"))},
        "submission_history": [{"lender": lenders.get(s.lender_id), "submitted": s.submitted_at.date().isoformat(),
                                "status": s.status, "offer": s.offer_amount, "decline_reason": s.decline_reason}
                               for s in subs],
        "as_of": {"brief": uow.now().date(),
                  "latest_statement": months[-1].month if months else None},
    }  # fmt: skip


def _strengths_and_risks(m: dict[str, Any]) -> tuple[list[str], list[str]]:
    strengths, risks = [], []
    trend = m.get("revenue_trend_pct")
    if trend is not None and trend >= 10:
        strengths.append(f"revenue up {trend}% over the statement period")
    if m.get("max_nsf_month") == 0:
        strengths.append("no NSFs in the last three months")
    if m.get("existing_positions") == 0:
        strengths.append("no existing advances (first position)")
    if m.get("months_in_business", 0) >= 60:
        strengths.append(f"{m['months_in_business'] // 12} years in business")
    if trend is not None and trend <= -20:
        risks.append(f"revenue down {-trend}% over the statement period")
    if m.get("max_negative_days_month", 0) > 3:
        risks.append(f"up to {m['max_negative_days_month']} negative days in a month")
    if m.get("existing_withholding_pct", 0) >= 0.15:
        risks.append(f"existing advances already take {m['existing_withholding_pct']:.0%} of daily revenue")
    if m.get("max_nsf_month", 0) >= 3:
        risks.append(f"{m['max_nsf_month']} NSFs in a single month")
    return strengths[:3], risks[:3]


RECENT_SUBMISSIONS = 20  # the lender page shows the latest; the whole history is on each deal


def get_lender(uow: UnitOfWork, lender_id: str) -> tuple[Lender, list[tuple[Submission, str]]]:
    """A lender and its latest submissions, newest first, each with its deal's name."""
    lender = get_or_404(uow, Lender, lender_id, "lender")
    rows = uow.session.execute(
        select(Submission, Opportunity.name)
        .join(
            Opportunity, (Opportunity.tenant_id == Submission.tenant_id) & (Opportunity.id == Submission.opportunity_id)
        )
        .where(Submission.lender_id == lender.id)
        .order_by(Submission.submitted_at.desc(), Submission.id.desc())
        .limit(RECENT_SUBMISSIONS)
    ).all()
    return lender, [(sub, name) for sub, name in rows]
