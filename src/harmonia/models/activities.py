"""Calendars and events, conversations and messages, tasks and notes; the activity counters over them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, TenantOwned, TenantScoped, UTCDateTime, tenant_fk

__all__ = ["MESSAGE_STATUSES", "ActivityCount", "Calendar", "Conversation", "Event", "Message", "Note",
           "SendConfirmation", "Task"]  # fmt: skip

# queued → (claimed: a lease on a queued row) → sending → sent/delivered | failed | unknown; held and blocked carry the
# gate's rule in `rule`. `unknown`: it may or may not have left (the worker stopped mid-send, the connection dropped
# after the data went); it is never sent again by itself, a person looks and resends.
MESSAGE_STATUSES = (
    "draft", "queued", "sending", "held", "blocked", "sent", "delivered", "failed", "unknown", "received",
)  # fmt: skip


class Calendar(TenantScoped, Base):
    __tablename__ = "calendars"
    __extra_args__ = (tenant_fk("user_id", "users"),)

    user_id: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(120))


class Event(TenantScoped, Base):
    __tablename__ = "events"
    __extra_args__ = (
        tenant_fk("calendar_id", "calendars", ondelete="CASCADE"),
        tenant_fk("contact_id", "contacts"),
        tenant_fk("opportunity_id", "opportunities"),
        Index("ix_events_tenant_start", "tenant_id", "start_at"),
        Index("ix_events_tenant_calendar_start", "tenant_id", "calendar_id", "start_at"),
        Index("ix_events_tenant_contact", "tenant_id", "contact_id", "start_at"),
    )

    calendar_id: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(200))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    contact_id: Mapped[str | None] = mapped_column(String(24))
    opportunity_id: Mapped[str | None] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(12), default="booked")  # booked/confirmed/cancelled/no_show
    location: Mapped[str | None] = mapped_column(String(200))


class Conversation(TenantScoped, Base):
    """One thread per contact and channel."""

    __tablename__ = "conversations"
    __extra_args__ = (
        tenant_fk("contact_id", "contacts"),
        tenant_fk("assignee_id", "users"),
        UniqueConstraint("tenant_id", "contact_id", "channel"),
        Index("ix_conversations_tenant_updated", "tenant_id", "updated_at", "id"),
        Index("ix_conversations_tenant_assignee", "tenant_id", "assignee_id", "updated_at"),
    )

    contact_id: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(8))  # email/sms/call
    subject: Mapped[str | None] = mapped_column(String(300))
    assignee_id: Mapped[str | None] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(8), default="open")  # open/closed
    unread: Mapped[bool] = mapped_column(Boolean, default=False)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _partial_unique(name: str, column: str, where: str) -> Index:
    # The migration (0010) creates it partial on both databases; naming `postgresql_where` here would load the
    # PostgreSQL dialect into every process at import (`harmonia mcp` over SQLite stays lean).
    return Index(name, "tenant_id", column, unique=True, sqlite_where=text(where))


class Message(TenantScoped, Base):
    __tablename__ = "messages"
    __extra_args__ = (
        tenant_fk("conversation_id", "conversations", ondelete="CASCADE"),
        Index("ix_messages_tenant_conversation", "tenant_id", "conversation_id", "created_at"),
        Index("ix_messages_tenant_status", "tenant_id", "status", "created_at"),
        # covers reports_activity's count per person and channel over a period
        Index("ix_messages_tenant_activity", "tenant_id", "created_at", "direction", "status", "sent_by", "channel"),
        Index("ix_messages_tenant_provider", "tenant_id", "provider_id"),
        # one key, one send: concurrent callers with the same key meet here (the loser replays the winner)
        _partial_unique("uq_messages_tenant_idempotency", "idempotency_key", "idempotency_key IS NOT NULL"),
        # a provider's redelivered inbound callback (the same MessageSid) is stored once
        _partial_unique(
            "uq_messages_tenant_inbound_provider", "provider_id", "direction = 'inbound' AND provider_id IS NOT NULL"
        ),
        # the worker's claim: queued rows whose lease (or back-off) has run out
        Index("ix_messages_tenant_due", "tenant_id", "status", "leased_until"),
    )

    conversation_id: Mapped[str] = mapped_column(String(24))
    direction: Mapped[str] = mapped_column(String(8))  # inbound/outbound
    channel: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    from_addr: Mapped[str | None] = mapped_column(String(320))
    to_addr: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(10))  # see MESSAGE_STATUSES
    status_reason: Mapped[str | None] = mapped_column(String(300))  # why blocked/held/failed
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(120))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    idempotency_digest: Mapped[str | None] = mapped_column(String(64))  # of the arguments the key was first used with
    sent_by: Mapped[str | None] = mapped_column(String(24))  # user id of the person (or the token's user)
    # calls
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(20))  # answered/no_answer/voicemail/busy/failed
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # the gate's rule when held/blocked (`outbound_off`, `sms_consent`…), or why it failed (`provider_refused`…)
    rule: Mapped[str | None] = mapped_column(String(32))
    # delivery lease: which dispatcher holds the row and until when (also the retry back-off of a queued row)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a refused send of a draft: the blocked attempt points at the draft, which stays a draft
    draft_id: Mapped[str | None] = mapped_column(String(24))


class SendConfirmation(TenantScoped, Base):
    """The preview of a send to several recipients, which a second call confirms by id: short-lived, used once, bound
    to the person and token that asked for it (`created_by`, `token_id`) and to exactly those recipients, subject
    and body (`digest`). `message_ids`: what the confirmed send wrote, returned again if the call is repeated."""

    __tablename__ = "send_confirmations"

    channel: Mapped[str] = mapped_column(String(8))
    contact_ids: Mapped[list[str]] = mapped_column(Json)  # sorted, each once
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of channel, recipients, subject and body
    token_id: Mapped[str | None] = mapped_column(String(24))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_ids: Mapped[list[str] | None] = mapped_column(Json)


class Task(TenantScoped, Base):
    __tablename__ = "tasks"
    __extra_args__ = (
        tenant_fk("assignee_id", "users"),
        Index("ix_tasks_tenant_assignee_due", "tenant_id", "assignee_id", "status", "due_at"),
        Index("ix_tasks_tenant_status_due", "tenant_id", "status", "due_at"),
        Index("ix_tasks_tenant_record", "tenant_id", "record_type", "record_id"),
    )

    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[str | None] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(8), default="open")  # open/done
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    record_type: Mapped[str | None] = mapped_column(String(16))  # contact/account/opportunity
    record_id: Mapped[str | None] = mapped_column(String(24))


class Note(TenantScoped, Base):
    __tablename__ = "notes"
    __extra_args__ = (
        tenant_fk("author_id", "users"),
        Index("ix_notes_tenant_record", "tenant_id", "record_type", "record_id", "created_at"),
        Index("ix_notes_tenant_created_author", "tenant_id", "created_at", "author_id"),
    )

    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(24))
    record_type: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str] = mapped_column(String(24))


class ActivityCount(TenantOwned, Base):
    """How many calls, emails, SMS, notes or stage moves one user made in one UTC quarter-hour or day. Kept by
    triggers (harmonia/counters.py), read by `reports_activity`; never written by application code."""

    __tablename__ = "activity_counts"

    span: Mapped[int] = mapped_column(Integer, primary_key=True)  # seconds: 900 or 86400
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # its start, seconds since 1970 UTC
    user_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
