"""Consent history (SPEC §11): one row per change of a contact's consent on a channel, appended and never changed.

The contact's `*_consent` columns say where consent stands now; these rows say how it got there — who or what moved
it, from what to what, on what evidence (`source`) and when it was given (`given_at`). Nothing updates or deletes a
row: an inbound STOP stays on record whatever is written later. There is no foreign key to the contact, so the
record of an opt-out outlives the contact (suppression evidence is kept for years).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantOwned, UTCDateTime

__all__ = ["ConsentEvent"]


class ConsentEvent(TenantOwned, Base):
    __tablename__ = "consent_events"
    __extra_args__ = (Index("ix_consent_events_tenant_contact", "tenant_id", "contact_id", "channel", "at"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(8))  # email/sms/call
    from_value: Mapped[str | None] = mapped_column(String(16))
    to_value: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(300))  # "inbound STOP", "signed paper form", "provider bounce"…
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the contact gave (or withdrew) it
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it was recorded here
    via: Mapped[str] = mapped_column(String(10))  # the actor's channel: ui/api/mcp/cli/system…
    user_id: Mapped[str | None] = mapped_column(String(24))
    client: Mapped[str | None] = mapped_column(String(120))
