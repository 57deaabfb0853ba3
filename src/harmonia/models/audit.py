"""The audit log: append-only and hash-chained per tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, TenantOwned, UTCDateTime

__all__ = ["AuditEvent"]


class AuditEvent(TenantOwned, Base):
    __tablename__ = "audit_events"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        Index("ix_audit_events_tenant_at", "tenant_id", "at"),
        Index("ix_audit_events_tenant_action", "tenant_id", "action", "at"),
        Index("ix_audit_events_tenant_actor", "tenant_id", "actor_user_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[str | None] = mapped_column(String(24))
    token_id: Mapped[str | None] = mapped_column(String(24))
    client: Mapped[str | None] = mapped_column(String(120))  # token name / AI client name
    channel: Mapped[str] = mapped_column(String(10))  # ui/api/workflow/mcp/cli/system
    action: Mapped[str] = mapped_column(String(64))  # operation or tool name
    target_type: Mapped[str | None] = mapped_column(String(24))
    target_id: Mapped[str | None] = mapped_column(String(24))
    outcome: Mapped[str] = mapped_column(String(8))  # ok/denied/blocked/error
    request_id: Mapped[str | None] = mapped_column(String(40))
    args_digest: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(500))
    before: Mapped[dict[str, Any] | None] = mapped_column(Json)
    after: Mapped[dict[str, Any] | None] = mapped_column(Json)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
