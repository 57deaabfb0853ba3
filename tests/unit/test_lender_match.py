"""The lender match's money rules, straight on the pure functions (research/mca-domain.md §6): what a lender could
fund and which limit binds, in exact dollars and cents, and where each hard rule passes, fails or cannot tell.

Numbers are worked by hand in the comments; a month has 21.5 business days, so $43,000 a month is $2,000.00 a day.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from harmonia.mca.match import DealFacts, LenderTerms, Match, MonthFacts, Rule, evaluate, metrics, rank

MONTHS = ("2026-07", "2026-08", "2026-09", "2026-10")


def month(
    name: str, revenue: float | None, *, deposits: float | None = None, adb: float = 50_000.0, nsf: int = 0,
    negative_days: int = 0, count: int = 40, partial: bool = False,
) -> MonthFacts:  # fmt: skip
    return MonthFacts(name, deposits if deposits is not None else revenue or 0.0, count, revenue, adb, nsf,
                      negative_days, partial)  # fmt: skip


def deal(
    revenue: float = 43_000.0, *, requested: float | None = 20_000.0, adb: float = 50_000.0,
    months: tuple[MonthFacts, ...] | None = None, positions: tuple[dict[str, Any], ...] = (), **facts: Any,
) -> DealFacts:  # fmt: skip
    values: dict[str, Any] = dict(fico=700, state="TX", naics="722511", risk_tags=(), entity_type="llc",
                                  business_start=date(2018, 1, 1), open_bankruptcy=False)  # fmt: skip
    values |= facts
    return DealFacts(
        requested_amount=requested,
        positions=positions,
        months=months if months is not None else tuple(month(m, revenue, adb=adb) for m in MONTHS),
        as_of=date(2026, 11, 20),
        **values,
    )


def lender(**terms: Any) -> LenderTerms:
    return LenderTerms(id="ld_1", name="Lender One", status="active", **terms)


def rule(match: Match, name: str) -> Rule:
    return next(r for r in match.rules if r.rule == name)


def daily(payment: float) -> dict[str, Any]:
    return {"payment": payment, "frequency": "daily"}


# Capacity: the least of the limits, floored to $500, and the limit that binds.


def test_the_worked_example_of_the_research_is_capped_by_withholding_at_29500() -> None:
    # $62,000/month → $2,883.72/day; one $399/day position; ADB $7,400; sell 1.32 + 0.08 = 1.40 over 6 months (129
    # business days). Withholding: (0.25 × 2,883.72 − 399) × 129 / 1.40 = $29,663.55 → $29,500. Multiple: 62,000 ×
    # 0.75 (second position) = $46,500. ADB: 7,400 / 0.10 = $74,000.
    facts = deal(62_000.0, requested=60_000.0, adb=7_400.0, positions=(daily(399.0),))
    terms = lender(max_withholding_pct=0.25, max_advance_to_revenue=1.0, buy_rate_min=1.30, buy_rate_max=1.34,
                   term_min_months=6, term_max_months=6)  # fmt: skip
    m = metrics(facts)
    assert (m["daily_revenue"], m["existing_daily_debt"], m["existing_withholding_pct"]) == (2883.72, 399.0, 0.138)
    found = evaluate(facts, terms)
    assert (found.est_max_advance, found.binding_limit) == (29_500.0, "withholding cap")
    # At $29,500: 29,500 × 1.40 / 129 = $320.16/day; (399 + 320.16) / 2,883.72 = 24.9 % ≤ 25 %.
    assert rule(found, "withholding after funding") == Rule("withholding after funding", "pass", 0.249, "≤ 0.25")


def test_a_lender_maximum_below_the_ask_caps_the_fundable_amount() -> None:
    found = evaluate(deal(requested=60_000.0), lender(max_deal_size=20_000.0, min_deal_size=5_000.0))
    assert (found.est_max_advance, found.binding_limit) == (20_000.0, "lender maximum")
    assert rule(found, "fundable amount") == Rule("fundable amount", "pass", 20_000.0, "≥ 5,000")


def test_a_capped_amount_below_the_lenders_minimum_fails_the_deal_size_though_the_ask_is_above_it() -> None:
    found = evaluate(deal(requested=60_000.0), lender(max_deal_size=20_000.0, min_deal_size=25_000.0))
    assert rule(found, "fundable amount") == Rule("fundable amount", "fail", 20_000.0, "≥ 25,000")
    assert found.verdict == "not_a_fit"


def test_a_lender_maximum_that_is_not_a_round_500_is_floored_to_one() -> None:
    found = evaluate(deal(requested=60_000.0), lender(max_deal_size=25_250.0))
    assert (found.est_max_advance, found.binding_limit) == (25_000.0, "lender maximum")


@pytest.mark.parametrize(("requested", "result"), [(25_000.0, "pass"), (24_999.99, "fail")])
def test_the_minimum_deal_size_is_inclusive_to_the_cent(requested: float, result: str) -> None:
    found = evaluate(deal(requested=requested), lender(min_deal_size=25_000.0))
    assert rule(found, "fundable amount") == Rule("fundable amount", result, requested, "≥ 25,000")


def test_the_adb_limit_binds_at_ten_times_the_average_daily_balance() -> None:
    found = evaluate(deal(requested=60_000.0, adb=2_345.0), lender())
    assert (found.est_max_advance, found.binding_limit) == (23_000.0, "average daily balance")  # 23,450 floored


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        ((), 43_000.0),  # first position: 43,000 × 1.00
        ((daily(100.0),), 32_000.0),  # second: 43,000 × 0.75 = 32,250 → 32,000
        ((daily(100.0), daily(100.0)), 21_500.0),  # third: × 0.50
        ((daily(100.0),) * 3, 15_000.0),  # fourth and beyond: × 0.35 = 15,050 → 15,000
    ],
)
def test_each_existing_position_cuts_the_advance_to_revenue_multiple(
    positions: tuple[dict[str, Any], ...], expected: float
) -> None:
    found = evaluate(deal(requested=60_000.0, positions=positions), lender(max_withholding_pct=1.0))
    assert (found.est_max_advance, found.binding_limit) == (expected, "advance-to-revenue multiple")


def test_a_merchant_already_over_the_withholding_cap_can_be_advanced_nothing() -> None:
    # 20 % of $2,000/day is $400; existing debits take $450.
    found = evaluate(deal(positions=(daily(450.0),)), lender(min_deal_size=5_000.0))
    assert (found.est_max_advance, found.binding_limit) == (0.0, "withholding cap")
    assert rule(found, "fundable amount") == Rule("fundable amount", "fail", 0.0, "≥ 5,000")


# Factor rate and payback: the sell rate is the buy-rate midpoint plus 8 points, never above 1.499; the daily
# payment is amount × sell rate / term in business days.


def test_default_terms_are_a_143_factor_over_161_business_days() -> None:
    # No buy rates: (1.30 + 1.40) / 2 + 0.08 = 1.43; no terms: 7.5 months × 21.5 = 161.25 → 161 days.
    # Capacity at a 10 % cap: 200 × 161 / 1.43 = $22,517.48 → $22,500. At $20,000 asked: payback $28,600,
    # 28,600 / 161 = $177.64/day, 8.9 % of $2,000.
    found = evaluate(deal(requested=20_000.0), lender(max_withholding_pct=0.10))
    assert (found.est_max_advance, found.binding_limit) == (22_500.0, "withholding cap")
    assert rule(found, "withholding after funding") == Rule("withholding after funding", "pass", 0.089, "≤ 0.1")


def test_the_sell_rate_is_capped_at_1499() -> None:
    # Buy 1.45–1.55: 1.50 + 0.08 = 1.58, capped at 1.499. 400 × 129 / 1.499 = $34,422.95 → $34,000 (at 1.58 it
    # would be $32,658.23 → $32,500).
    terms = lender(buy_rate_min=1.45, buy_rate_max=1.55, term_min_months=6, term_max_months=6,
                   max_advance_to_revenue=2.0)  # fmt: skip
    found = evaluate(deal(requested=60_000.0), terms)
    assert (found.est_max_advance, found.binding_limit) == (34_000.0, "withholding cap")


def test_weekly_payments_count_a_fifth_per_business_day() -> None:
    m = metrics(deal(positions=({"payment": 1_000.0, "frequency": "weekly"}, daily(150.0))))
    assert (m["existing_positions"], m["existing_daily_debt"], m["existing_withholding_pct"]) == (2, 350.0, 0.175)


# Revenue, balances, NSFs: thresholds are inclusive, read over the latest four full months.


@pytest.mark.parametrize(("last", "result", "average"), [(20_000.0, "pass", 20_000.0), (19_999.96, "fail", 19_999.99)])
def test_the_revenue_minimum_is_inclusive_to_the_cent(last: float, result: str, average: float) -> None:
    months = (*(month(m, 20_000.0) for m in MONTHS[:3]), month(MONTHS[3], last))
    found = evaluate(deal(months=months), lender(min_monthly_revenue=20_000.0))
    assert rule(found, "avg monthly revenue") == Rule("avg monthly revenue", result, average, "≥ 20000.0")


def test_revenue_is_read_from_the_latest_four_full_months_and_deposits_stand_in_for_a_missing_revenue() -> None:
    months = (
        month("2026-06", 1_000.0),  # fifth-newest: left out
        *(month(m, 30_000.0) for m in MONTHS[:3]),
        month(MONTHS[3], None, deposits=34_000.0),  # no true revenue: its deposits count
        month("2026-11", 500.0, partial=True),  # month to date: left out of revenue
    )
    m = metrics(deal(months=months))
    assert (m["months_of_statements"], m["avg_revenue"], m["daily_revenue"]) == (4, 31_000.0, 1_441.86)


@pytest.mark.parametrize(("minimum", "result"), [(5_000.0, "pass"), (5_000.01, "fail")])
def test_the_average_daily_balance_minimum_is_inclusive(minimum: float, result: str) -> None:
    found = evaluate(deal(adb=5_000.0), lender(min_avg_daily_balance=minimum))
    assert rule(found, "avg daily balance") == Rule("avg daily balance", result, 5_000.0, f"≥ {minimum}")


@pytest.mark.parametrize(("maximum", "result"), [(2, "pass"), (1, "fail")])
def test_nsfs_count_the_last_three_full_months_and_the_month_to_date(maximum: int, result: str) -> None:
    months = (
        month(MONTHS[0], 43_000.0, nsf=9),  # four months back: not counted
        *(month(m, 43_000.0) for m in MONTHS[1:]),
        month("2026-11", 10_000.0, nsf=2, partial=True),
    )
    found = evaluate(deal(months=months), lender(max_nsf_per_month=maximum))
    assert rule(found, "NSFs in a month") == Rule("NSFs in a month", result, 2, f"≤ {maximum}")


@pytest.mark.parametrize(("positions", "result"), [(1, "pass"), (2, "fail")])
def test_the_position_limit_counts_existing_advances(positions: int, result: str) -> None:
    found = evaluate(deal(positions=(daily(50.0),) * positions), lender(max_positions=1))
    assert rule(found, "existing positions") == Rule("existing positions", result, positions, "≤ 1")


# Who the lender will not fund.


@pytest.mark.parametrize(
    ("facts", "result"),
    [
        ({"naics": "532112"}, "fail"),  # a NAICS under an excluded prefix
        ({"naics": "722511", "risk_tags": ("cannabis",)}, "fail"),  # an excluded risk tag
        ({"naics": "722511"}, "pass"),
        ({"naics": None}, "unknown"),  # nothing to judge the industry by
    ],
)
def test_excluded_industries_match_by_naics_prefix_or_risk_tag(facts: dict[str, Any], result: str) -> None:
    found = evaluate(deal(**facts), lender(excluded_industries=("5321", "cannabis")))
    assert rule(found, "industry").result == result


@pytest.mark.parametrize(("state", "result"), [("NY", "fail"), ("TX", "pass"), (None, "unknown")])
def test_excluded_states_fail_and_an_unknown_state_is_unknown(state: str | None, result: str) -> None:
    found = evaluate(deal(state=state), lender(excluded_states=("NY", "CA")))
    assert rule(found, "state") == Rule("state", result, state, "not in NY, CA")


@pytest.mark.parametrize(("fico", "result"), [(600, "pass"), (599, "fail"), (None, "unknown")])
def test_the_fico_minimum_is_inclusive_and_a_missing_score_is_unknown(fico: int | None, result: str) -> None:
    found = evaluate(deal(fico=fico), lender(min_fico=600))
    assert rule(found, "FICO") == Rule("FICO", result, fico, "≥ 600")
    assert found.verdict == {"pass": "eligible", "fail": "not_a_fit", "unknown": "eligible_with_unknowns"}[result]


def test_an_inactive_lender_is_not_a_fit_and_ranks_below_every_eligible_one() -> None:
    facts = deal()
    paused = replace(lender(), id="ld_0", name="Aardvark Capital", status="paused")
    active = replace(lender(min_fico=650), id="ld_2", name="Zebra Funding")
    ranked = rank(facts, [paused, active])
    assert [(x.lender, x.verdict) for x in ranked] == [("Zebra Funding", "eligible"), ("Aardvark Capital", "not_a_fit")]
    assert rule(ranked[1], "lender active") == Rule("lender active", "fail", "paused", "active")


# What the ask meets: a cap below the ask is a partial fit said in dollars, never the deal's "actual" amount.


def test_a_lender_capped_below_the_ask_is_a_partial_fit_for_up_to_its_cap_of_the_amount_asked() -> None:
    # $186,000 asked; ADB $100,000 and $400,000 a month leave the lender's $75,000 maximum as the binding limit.
    found = evaluate(deal(400_000.0, requested=186_000.0, adb=100_000.0), lender(max_deal_size=75_000.0))
    assert (found.fit, found.max_amount, found.requested_amount) == ("partial", 75_000.0, 186_000.0)
    assert found.summary == "eligible for up to $75,000 of the $186,000 asked (lender maximum)"
    assert found.verdict == "eligible"
    full = evaluate(deal(400_000.0, requested=60_000.0, adb=100_000.0), lender(max_deal_size=75_000.0))
    assert (full.fit, full.summary) == ("full", "eligible for the full $60,000 asked (up to $75,000)")


def test_a_missing_ask_is_unknown_never_zero() -> None:
    found = evaluate(deal(requested=None), lender(min_deal_size=5_000.0, max_deal_size=30_000.0))
    assert (found.fit, found.requested_amount, found.max_amount) == ("unknown", None, 30_000.0)
    # the fundable amount is what the lender could fund (its cap), not min(0, cap): the minimum deal size passes
    assert rule(found, "fundable amount") == Rule("fundable amount", "pass", 30_000.0, "≥ 5,000")
    assert found.summary == "eligible for up to $30,000; the amount asked is unknown"


def test_a_failing_lender_is_no_fit_and_its_summary_names_the_rules_it_fails() -> None:
    found = evaluate(deal(fico=580), lender(min_fico=600))
    assert (found.fit, found.summary) == ("none", "not a fit: fails FICO")


def test_lenders_who_can_fund_the_whole_ask_rank_before_better_scored_partial_ones() -> None:
    # Cheap, fast, A-paper but capped at $30,000 (the higher score) against a dear lender who can fund all $40,000 (its binding
    # limit, the revenue multiple, is $43,000).
    capped = replace(
        lender(
            max_deal_size=30_000.0,
            buy_rate_min=1.15,
            buy_rate_max=1.18,
            paper_grades=("A",),
            preferred_industries=("722",),
            median_hours_to_decision=4.0,
        ),
        id="ld_a",
        name="Capped",
    )
    whole = replace(lender(buy_rate_min=1.45, buy_rate_max=1.49, max_withholding_pct=1.0), id="ld_b", name="Whole")
    ranked = rank(deal(requested=40_000.0), [capped, whole])
    assert [(x.lender, x.fit) for x in ranked] == [("Whole", "full"), ("Capped", "partial")]
    assert ranked[1].score > ranked[0].score
    assert ranked[1].summary == "eligible for up to $30,000 of the $40,000 asked (lender maximum)"
