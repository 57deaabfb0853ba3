"""Deal metrics and the deterministic lender match (research/mca-domain.md §6), as pure functions.

Hard rules are tri-state — pass / fail / unknown (a missing merchant value) — each with the actual and the required
value, so a brief can render a ✓/✗/? table. Then a capacity estimate (what this lender could realistically fund and
which limit binds) and a soft score 0–100 to rank the eligible. Same inputs, same output.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Any

__all__ = ["FITS", "DealFacts", "LenderTerms", "Match", "MonthFacts", "Rule", "evaluate", "metrics", "rank"]

BUSINESS_DAYS_PER_MONTH = 21.5


@dataclass(frozen=True)
class MonthFacts:
    month: str
    deposits: float
    deposit_count: int
    revenue: float | None
    adb: float
    nsf: int
    negative_days: int
    partial: bool = False


@dataclass(frozen=True)
class DealFacts:
    requested_amount: float | None
    fico: int | None
    state: str | None
    naics: str | None
    risk_tags: tuple[str, ...]
    entity_type: str | None
    business_start: date | None
    open_bankruptcy: bool
    positions: tuple[dict[str, Any], ...]
    months: tuple[MonthFacts, ...]
    as_of: date


@dataclass(frozen=True)
class LenderTerms:
    id: str
    name: str
    status: str
    paper_grades: tuple[str, ...] = ()
    min_monthly_revenue: float | None = None
    min_months_in_business: int | None = None
    min_fico: int | None = None
    max_positions: int | None = None
    min_avg_daily_balance: float | None = None
    max_nsf_per_month: int | None = None
    max_negative_days: int | None = None
    min_deposit_count: int | None = None
    min_deal_size: float | None = None
    max_deal_size: float | None = None
    max_withholding_pct: float | None = None
    max_advance_to_revenue: float | None = None
    excluded_industries: tuple[str, ...] = ()
    excluded_states: tuple[str, ...] = ()
    buy_rate_min: float | None = None
    buy_rate_max: float | None = None
    term_min_months: int | None = None
    term_max_months: int | None = None
    median_hours_to_decision: float | None = None
    preferred_industries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    rule: str
    result: str  # pass / fail / unknown
    actual: Any
    required: Any

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "result": self.result, "actual": self.actual, "required": self.required}


FITS = ("full", "partial", "unknown", "none")  # how much of the ask this lender could fund, best first


@dataclass
class Match:
    lender_id: str
    lender: str
    verdict: str  # eligible / eligible_with_unknowns / not_a_fit
    score: float
    est_max_advance: float | None
    binding_limit: str | None
    rules: list[Rule] = field(default_factory=list)
    # What the ask meets: `requested_amount` is the deal's own ask (None: not given, never 0); `max_amount` what this
    # lender could fund (its capacity estimate, or its maximum deal size when there are no statements); `fit` full
    # (the whole ask), partial (less), unknown (the ask or the cap is not known) or none (a rule fails); `summary`
    # says it in one line, e.g. "eligible for up to $75,000 of the $186,000 asked".
    requested_amount: float | None = None
    max_amount: float | None = None
    fit: str = "unknown"
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"lender_id": self.lender_id, "lender": self.lender, "verdict": self.verdict, "fit": self.fit,
                "summary": self.summary, "requested_amount": self.requested_amount, "max_amount": self.max_amount,
                "score": self.score, "est_max_advance": self.est_max_advance, "binding_limit": self.binding_limit,
                "rules": [r.as_dict() for r in self.rules]}  # fmt: skip


def _daily_equiv(position: dict[str, Any]) -> float:
    payment = float(position.get("payment") or 0)
    return payment / 5 if position.get("frequency") == "weekly" else payment


def metrics(deal: DealFacts) -> dict[str, Any]:
    """The numbers every rule reads. Full months only (the latest 4); month-to-date counts toward NSFs."""
    full = sorted((m for m in deal.months if not m.partial), key=lambda m: m.month)[-4:]
    partial = [m for m in deal.months if m.partial]
    out: dict[str, Any] = {"months_of_statements": len(full)}
    if full:
        revenues = [m.revenue if m.revenue is not None else m.deposits for m in full]
        avg_rev = statistics.fmean(revenues)
        out.update(
            avg_revenue=round(avg_rev, 2),
            avg_deposits=round(statistics.fmean(m.deposits for m in full), 2),
            avg_deposit_count=round(statistics.fmean(m.deposit_count for m in full), 1),
            avg_adb=round(statistics.fmean(m.adb for m in full), 2),
            max_nsf_month=max(m.nsf for m in full[-3:] + partial),
            max_negative_days_month=max(m.negative_days for m in full[-3:]),
            revenue_trend_pct=round(100 * (revenues[-1] - revenues[0]) / revenues[0], 1) if revenues[0] else None,
            daily_revenue=round(avg_rev / BUSINESS_DAYS_PER_MONTH, 2),
        )
    debt = sum(_daily_equiv(p) for p in deal.positions)
    out["existing_positions"] = len(deal.positions)
    out["existing_daily_debt"] = round(debt, 2)
    if out.get("daily_revenue"):
        out["existing_withholding_pct"] = round(debt / out["daily_revenue"], 3)
    if deal.business_start:
        out["months_in_business"] = (deal.as_of.year - deal.business_start.year) * 12 + (
            deal.as_of.month - deal.business_start.month
        )
    out["fico"] = deal.fico
    out["paper_grade"] = _grade(out)
    return out


def _grade(m: dict[str, Any]) -> str | None:
    if "avg_revenue" not in m:
        return None
    checks = [
        (m.get("fico"), [(650, "A"), (580, "B"), (530, "C")], True),
        (m.get("months_in_business"), [(24, "A"), (12, "B"), (6, "C")], True),
        (m["avg_revenue"], [(40_000, "A"), (20_000, "B"), (12_000, "C")], True),
        (m["max_nsf_month"], [(1, "A"), (3, "B"), (6, "C")], False),
        (m["existing_positions"], [(0, "A"), (1, "B"), (2, "C")], False),
    ]
    worst = "A"
    for value, bands, higher_better in checks:
        if value is None:
            grade = "D"
        else:
            grade = next((g for limit, g in bands if (value >= limit if higher_better else value <= limit)), "D")
        worst = max(worst, grade)
    return worst


def _min_rule(name: str, actual: Any, required: Any) -> Rule | None:
    if required is None:
        return None
    if actual is None:
        return Rule(name, "unknown", None, f"≥ {required}")
    return Rule(name, "pass" if actual >= required else "fail", actual, f"≥ {required}")


def _max_rule(name: str, actual: Any, required: Any) -> Rule | None:
    if required is None:
        return None
    if actual is None:
        return Rule(name, "unknown", None, f"≤ {required}")
    return Rule(name, "pass" if actual <= required else "fail", actual, f"≤ {required}")


def evaluate(deal: DealFacts, lender: LenderTerms, m: dict[str, Any] | None = None) -> Match:
    m = m or metrics(deal)
    industry_keys = [k for k in (deal.naics or "",) if k] + list(deal.risk_tags)
    excluded = [x for x in lender.excluded_industries if any(k.startswith(x) or k == x for k in industry_keys)]
    rules = [
        Rule("lender active", "pass" if lender.status == "active" else "fail", lender.status, "active"),
        Rule(
            "state",
            "unknown" if not deal.state else "fail" if deal.state in lender.excluded_states else "pass",
            deal.state,
            f"not in {', '.join(lender.excluded_states)}" if lender.excluded_states else "any",
        ),
        Rule(
            "industry",
            "fail" if excluded else "pass" if industry_keys else "unknown",
            deal.naics,
            f"not {', '.join(lender.excluded_industries)}" if lender.excluded_industries else "any",
        ),
        Rule("open bankruptcy", "fail" if deal.open_bankruptcy else "pass", deal.open_bankruptcy, False),
    ]
    for rule in (
        _min_rule("months in business", m.get("months_in_business"), lender.min_months_in_business),
        _min_rule("FICO", m.get("fico"), lender.min_fico),
        _min_rule("avg monthly revenue", m.get("avg_revenue"), lender.min_monthly_revenue),
        _min_rule("deposits per month", m.get("avg_deposit_count"), lender.min_deposit_count),
        _min_rule("avg daily balance", m.get("avg_adb"), lender.min_avg_daily_balance),
        _max_rule("NSFs in a month", m.get("max_nsf_month"), lender.max_nsf_per_month),
        _max_rule("negative days in a month", m.get("max_negative_days_month"), lender.max_negative_days),
        _max_rule("existing positions", m.get("existing_positions"), lender.max_positions),
    ):
        if rule is not None:
            rules.append(rule)
    est, binding = _capacity(deal, lender, m)
    ask = deal.requested_amount
    # What this lender could fund of the ask: the ask, capped by the estimate; with no ask, the estimate alone (a
    # missing ask is unknown, never $0).
    fundable = est if ask is None else min(ask, est) if est is not None else ask
    if lender.min_deal_size is not None:
        rules.append(Rule("fundable amount", "unknown" if fundable is None else
                          "pass" if fundable >= lender.min_deal_size else "fail", fundable,
                          f"≥ {lender.min_deal_size:,.0f}"))  # fmt: skip
    if lender.max_withholding_pct is not None and m.get("daily_revenue") and fundable:
        after = _withholding_after(lender, m, fundable)
        rules.append(
            Rule(
                "withholding after funding",
                "pass" if after <= lender.max_withholding_pct else "fail",
                round(after, 3),
                f"≤ {lender.max_withholding_pct}",
            )
        )
    fails = sum(r.result == "fail" for r in rules)
    unknowns = sum(r.result == "unknown" for r in rules)
    verdict = "not_a_fit" if fails else "eligible_with_unknowns" if unknowns else "eligible"
    cap = est if est is not None else lender.max_deal_size
    fit = (
        "none" if fails or (cap is not None and cap <= 0)
        else "unknown" if ask is None or cap is None
        else "full" if cap >= ask
        else "partial"
    )  # fmt: skip
    return Match(lender.id, lender.name, verdict, _score(deal, lender, m, rules, fundable), est, binding, rules,
                 requested_amount=ask, max_amount=cap, fit=fit, summary=_summary(fit, ask, cap, binding, rules))  # fmt: skip


def _dollars(amount: float) -> str:
    return f"${amount:,.0f}"


def _summary(fit: str, ask: float | None, cap: float | None, binding: str | None, rules: list[Rule]) -> str:
    """The match in one line a broker can read aloud: how much of the ask, and why not more or not at all."""
    fails = [r.rule for r in rules if r.result == "fail"]
    unknown = [r.rule for r in rules if r.result == "unknown"]
    if fit == "none":
        line = f"not a fit: fails {', '.join(fails)}" if fails else "not a fit: could fund nothing at these numbers"
    elif fit == "full":
        assert ask is not None
        assert cap is not None
        line = f"eligible for the full {_dollars(ask)} asked (up to {_dollars(cap)})"
    elif fit == "partial":
        assert ask is not None and cap is not None
        line = f"eligible for up to {_dollars(cap)} of the {_dollars(ask)} asked" + (f" ({binding})" if binding else "")
    elif cap is not None:
        line = f"eligible for up to {_dollars(cap)}; the amount asked is unknown"
    else:
        line = "eligible; no statements to size the advance" + (f" against {_dollars(ask)} asked" if ask else "")
    if unknown and fit != "none":
        line += f"; unknown: {', '.join(unknown)}"
    return line


def _terms(lender: LenderTerms) -> tuple[float, float]:
    sell = min(1.499, ((lender.buy_rate_min or 1.3) + (lender.buy_rate_max or 1.4)) / 2 + 0.08)
    months = ((lender.term_min_months or 6) + (lender.term_max_months or 9)) / 2
    return sell, round(months * BUSINESS_DAYS_PER_MONTH)


def _withholding_after(lender: LenderTerms, m: dict[str, Any], amount: float) -> float:
    sell, term_days = _terms(lender)
    return float((m["existing_daily_debt"] + amount * sell / term_days) / m["daily_revenue"])


def _capacity(deal: DealFacts, lender: LenderTerms, m: dict[str, Any]) -> tuple[float | None, str | None]:
    if "avg_revenue" not in m:
        return None, None
    sell, term_days = _terms(lender)
    haircut = {1: 1.0, 2: 0.75, 3: 0.5}.get(m["existing_positions"] + 1, 0.35)
    limits = {
        "advance-to-revenue multiple": m["avg_revenue"] * (lender.max_advance_to_revenue or 1.0) * haircut,
        "withholding cap": max(0.0, (lender.max_withholding_pct or 0.2) * m["daily_revenue"]
                               - m["existing_daily_debt"]) * term_days / sell,
        "average daily balance": m["avg_adb"] / 0.10,
    }  # fmt: skip
    if lender.max_deal_size is not None:
        limits["lender maximum"] = lender.max_deal_size
    binding = min(limits, key=lambda k: limits[k])
    return float(int(limits[binding] // 500 * 500)), binding


def _score(deal: DealFacts, lender: LenderTerms, m: dict[str, Any], rules: list[Rule], fundable: float | None) -> float:
    def clamp(v: float) -> float:
        return max(0.0, min(1.0, v))

    headroom = []
    for r in rules:
        if r.result == "unknown":
            headroom.append(0.5)
        elif isinstance(r.actual, int | float) and not isinstance(r.actual, bool) and isinstance(r.required, str):
            limit = float(r.required.split()[-1].replace(",", ""))
            if r.required.startswith("≥") and limit:
                headroom.append(clamp((r.actual / limit - 1) / 0.5))
            elif r.required.startswith("≤"):
                headroom.append(clamp((limit - r.actual) / max(limit, 1)))
    amount_fit = clamp((fundable or 0) / deal.requested_amount) if deal.requested_amount else 0.5
    grade = m.get("paper_grade")
    grade_fit = 1.0 if grade and lender.paper_grades[:1] == (grade,) else 0.5 if grade in lender.paper_grades else 0.0
    buy_mid = ((lender.buy_rate_min or 1.35) + (lender.buy_rate_max or 1.35)) / 2
    pricing = clamp(1 - (buy_mid - 1.15) / 0.40)
    speed = clamp(1 - ((lender.median_hours_to_decision or 24) - 4) / 68)
    preferred = 1.0 if deal.naics and any(deal.naics.startswith(p) for p in lender.preferred_industries) else 0.0
    total = (35 * (statistics.fmean(headroom) if headroom else 0.5) + 25 * amount_fit + 15 * grade_fit
             + 15 * pricing + 5 * speed + 5 * preferred)  # fmt: skip
    return round(total, 1)


def rank(deal: DealFacts, lenders: list[LenderTerms]) -> list[Match]:
    """Those who could fund the whole ask first, then an unknown fit, then part of the ask, then the not-a-fit (by
    fewest fails); within each, eligible before eligible-with-unknowns, then by score; ties by name."""
    m = metrics(deal)
    matches = [evaluate(deal, lender, m) for lender in lenders]
    order = {"eligible": 0, "eligible_with_unknowns": 1, "not_a_fit": 2}
    return sorted(matches, key=lambda x: (FITS.index(x.fit), order[x.verdict], sum(r.result == "fail" for r in x.rules),
                                          -x.score, x.lender))  # fmt: skip
