"""Merchant-cash-advance records: lenders and their guidelines, cashflow months, submissions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, Money, TenantOwned, TenantScoped, UTCDateTime, tenant_fk

__all__ = ["CashflowMonth", "Lender", "LenderOutcomeCount", "Submission"]


class Lender(TenantScoped, Base):
    """A funder and its guidelines. A null guideline means "no requirement"."""

    __tablename__ = "lenders"
    __extra_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="active")  # active/paused
    submission_email: Mapped[str | None] = mapped_column(String(320))
    paper_grades: Mapped[list[str]] = mapped_column(Json, default=list)  # ["A", "B"]
    min_monthly_revenue: Mapped[float | None] = mapped_column(Money)
    min_months_in_business: Mapped[int | None] = mapped_column(Integer)
    min_fico: Mapped[int | None] = mapped_column(Integer)
    max_positions: Mapped[int | None] = mapped_column(Integer)  # existing positions allowed (0 = no stacking)
    min_avg_daily_balance: Mapped[float | None] = mapped_column(Money)
    max_nsf_per_month: Mapped[int | None] = mapped_column(Integer)
    max_negative_days: Mapped[int | None] = mapped_column(Integer)  # per month
    min_deposit_count: Mapped[int | None] = mapped_column(Integer)  # per month
    min_deal_size: Mapped[float | None] = mapped_column(Money)
    max_deal_size: Mapped[float | None] = mapped_column(Money)
    max_withholding_pct: Mapped[float | None] = mapped_column(Float)  # (existing + new daily debt) / daily revenue
    max_advance_to_revenue: Mapped[float | None] = mapped_column(Float)
    excluded_industries: Mapped[list[str]] = mapped_column(Json, default=list)  # NAICS prefixes or risk tags
    excluded_states: Mapped[list[str]] = mapped_column(Json, default=list)
    buy_rate_min: Mapped[float | None] = mapped_column(Float)
    buy_rate_max: Mapped[float | None] = mapped_column(Float)
    term_min_months: Mapped[int | None] = mapped_column(Integer)
    term_max_months: Mapped[int | None] = mapped_column(Integer)
    max_upsell_points: Mapped[int | None] = mapped_column(Integer)
    median_hours_to_decision: Mapped[float | None] = mapped_column(Float)
    statements_required_months: Mapped[int] = mapped_column(Integer, default=4)
    preferred_industries: Mapped[list[str]] = mapped_column(Json, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    guidelines_updated_at: Mapped[date | None] = mapped_column(Date)


class CashflowMonth(TenantScoped, Base):
    """One bank-statement month of a merchant account."""

    __tablename__ = "cashflow_months"
    __extra_args__ = (
        tenant_fk("account_id", "accounts", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "account_id", "month"),
    )

    account_id: Mapped[str] = mapped_column(String(24))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    is_partial: Mapped[bool] = mapped_column(default=False)  # month to date
    deposits_total: Mapped[float] = mapped_column(Money)
    deposit_count: Mapped[int] = mapped_column(Integer)
    true_revenue: Mapped[float | None] = mapped_column(Money)  # deposits minus transfers, MCA fundings, reversals
    avg_daily_balance: Mapped[float] = mapped_column(Money)
    ending_balance: Mapped[float] = mapped_column(Money)
    nsf_count: Mapped[int] = mapped_column(Integer, default=0)
    negative_days: Mapped[int] = mapped_column(Integer, default=0)
    advance_debits: Mapped[float] = mapped_column(Money, default=0)  # existing-advance debits in the month
    source: Mapped[str] = mapped_column(String(20), default="manual")


class Submission(TenantScoped, Base):
    """An opportunity sent to one lender."""

    __tablename__ = "submissions"
    __extra_args__ = (
        tenant_fk("opportunity_id", "opportunities", ondelete="CASCADE"),
        tenant_fk("lender_id", "lenders"),
        Index("ix_submissions_tenant_opp", "tenant_id", "opportunity_id"),
        Index("ix_submissions_tenant_lender", "tenant_id", "lender_id", "status"),
        Index("ix_submissions_tenant_updated", "tenant_id", "updated_at"),
    )

    opportunity_id: Mapped[str] = mapped_column(String(24))
    lender_id: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(10), default="submitted")  # submitted/approved/declined/funded
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offer_amount: Mapped[float | None] = mapped_column(Money)
    factor_rate: Mapped[float | None] = mapped_column(Float)
    term_days: Mapped[int | None] = mapped_column(Integer)
    decline_reason: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)


class LenderOutcomeCount(TenantOwned, Base):
    """Submissions, decisions, offers and hours to decision per UTC bucket and lender. Kept by triggers
    (harmonia/flow_counters.py), read by `reports_lenders`; never written by application code."""

    __tablename__ = "lender_outcome_counts"
    __extra_args__ = ({"sqlite_with_rowid": False},)  # clustered on the key (SQLite)

    span: Mapped[int] = mapped_column(Integer, primary_key=True)  # seconds
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # its start, seconds since 1970 UTC
    lender_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    metric: Mapped[str] = mapped_column(String(48), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    cents: Mapped[int] = mapped_column(BigInteger)  # offered or funded, in cents
