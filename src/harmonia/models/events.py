"""Domain events: what happened that others react to, written in the same transaction as the change (the outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, TenantOwned, UTCDateTime

__all__ = ["DomainEventRow"]


class DomainEventRow(TenantOwned, Base):
    """One event. `processed_at` is set by the durable consumer (the workflow trigger matcher) once it has acted on
    it; in-process handlers run from memory right after commit and do not touch the row."""

    __tablename__ = "domain_events"
    __extra_args__ = (
        Index("ix_domain_events_tenant_pending", "tenant_id", "processed_at", "at"),
        Index("ix_domain_events_tenant_subject", "tenant_id", "subject_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(48))  # past tense: contact_created, stage_entered, message_received…
    subject_type: Mapped[str | None] = mapped_column(String(24))
    subject_id: Mapped[str | None] = mapped_column(String(24))
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    actor_user_id: Mapped[str | None] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(10))
    client: Mapped[str | None] = mapped_column(String(120))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
