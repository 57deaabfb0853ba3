"""Pipelines, their stages, and opportunities (deals) with their stage history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, Money, TenantOwned, TenantScoped, UTCDateTime, tenant_fk

__all__ = ["Opportunity", "Pipeline", "Stage", "StageChange", "StageFlowCount"]


class Pipeline(TenantScoped, Base):
    __tablename__ = "pipelines"
    __extra_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Stage(TenantScoped, Base):
    __tablename__ = "stages"
    __extra_args__ = (
        tenant_fk("pipeline_id", "pipelines", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "pipeline_id", "name"),
    )

    pipeline_id: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8), default="open")  # open/won/lost
    probability: Mapped[float] = mapped_column(Float, default=0.0)
    stale_days: Mapped[int | None] = mapped_column(Integer)  # per-stage threshold for stale_deal_alert
    # Maintained in the write path so the board and pipelines_list never count rows per call.
    open_count: Mapped[int] = mapped_column(Integer, default=0)
    open_amount: Mapped[float] = mapped_column(Money, default=0)


class Opportunity(TenantScoped, Base):
    __tablename__ = "opportunities"
    __extra_args__ = (
        tenant_fk("contact_id", "contacts"),
        tenant_fk("account_id", "accounts"),
        tenant_fk("pipeline_id", "pipelines"),
        tenant_fk("stage_id", "stages"),
        tenant_fk("owner_id", "users"),
        Index("ix_opportunities_tenant_updated", "tenant_id", "updated_at", "id"),
        Index("ix_opportunities_tenant_status_activity", "tenant_id", "status", "last_activity_at"),
        Index("ix_opportunities_tenant_stage", "tenant_id", "stage_id", "updated_at"),
        Index("ix_opportunities_tenant_owner", "tenant_id", "owner_id", "updated_at"),
        Index("ix_opportunities_tenant_contact", "tenant_id", "contact_id"),
        Index("ix_opportunities_tenant_account", "tenant_id", "account_id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[str | None] = mapped_column(String(24))
    account_id: Mapped[str | None] = mapped_column(String(24))
    pipeline_id: Mapped[str] = mapped_column(String(24))
    stage_id: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(8), default="open")  # open/won/lost
    amount: Mapped[float | None] = mapped_column(Money)
    owner_id: Mapped[str | None] = mapped_column(String(24))
    source: Mapped[str | None] = mapped_column(String(40))
    expected_close: Mapped[date | None] = mapped_column(Date)
    stage_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_reason: Mapped[str | None] = mapped_column(String(300))  # won/lost reason
    # MCA deal terms
    requested_amount: Mapped[float | None] = mapped_column(Money)
    funded_amount: Mapped[float | None] = mapped_column(Money)
    factor_rate: Mapped[float | None] = mapped_column(Float)
    term_days: Mapped[int | None] = mapped_column(Integer)  # business days
    payment_frequency: Mapped[str | None] = mapped_column(String(10))  # daily/weekly
    position: Mapped[int | None] = mapped_column(Integer)  # 1st, 2nd… after this advance
    fico: Mapped[int | None] = mapped_column(Integer)
    use_of_funds: Mapped[str | None] = mapped_column(Text)
    # [{"funder": "BLUEPEAK CAP", "payment": 399.0, "frequency": "daily", "balance": 12000.0}, …]
    existing_positions: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    # {"application_signed": "2026-11-02", "statements": ["2026-07", …], "id": true, "voided_check": false}
    documents: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class StageChange(TenantScoped, Base):
    """One stage move of a deal: the history `opportunities_get` shows and the daily brief reads."""

    __tablename__ = "stage_changes"
    __extra_args__ = (
        tenant_fk("opportunity_id", "opportunities", ondelete="CASCADE"),
        Index("ix_stage_changes_tenant_opp", "tenant_id", "opportunity_id", "created_at"),
        Index("ix_stage_changes_tenant_created", "tenant_id", "created_at"),
        Index("ix_stage_changes_tenant_at", "tenant_id", "at", "from_stage_id", "created_by"),  # reports_activity
    )

    opportunity_id: Mapped[str] = mapped_column(String(24))
    from_stage_id: Mapped[str | None] = mapped_column(String(24))
    to_stage_id: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The facts of the move, fixed when it is made, so the flow counters (flow_counters.py) count a row the same way
    # when it is deleted as when it was inserted: the deal's owner then, forward/back/lost, whole days in from_stage.
    owner_id: Mapped[str | None] = mapped_column(String(24))
    direction: Mapped[str | None] = mapped_column(String(8))
    days_in_from_stage: Mapped[int | None] = mapped_column(Integer)


class StageFlowCount(TenantOwned, Base):
    """Stage entries, exits and days in stage per UTC bucket, stage and owner ('' = every owner). Kept by triggers
    (harmonia/flow_counters.py), read by `reports_pipeline`; never written by application code."""

    __tablename__ = "stage_flow_counts"
    __extra_args__ = ({"sqlite_with_rowid": False},)  # clustered on the key (SQLite)

    owner_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    span: Mapped[int] = mapped_column(Integer, primary_key=True)  # seconds
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # its start, seconds since 1970 UTC
    stage_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    cents: Mapped[int] = mapped_column(BigInteger)
