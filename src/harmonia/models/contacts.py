"""People, businesses and the tags on them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, TenantOwned, TenantScoped, UTCDateTime, tenant_fk

__all__ = ["CHANNELS", "Account", "Contact", "Tag", "Tagging"]

CHANNELS = ("email", "sms", "call")


class Account(TenantScoped, Base):
    """A business (the merchant, in MCA)."""

    __tablename__ = "accounts"
    __extra_args__ = (
        tenant_fk("owner_id", "users"),
        Index("ix_accounts_tenant_domain", "tenant_id", "domain"),
        Index("ix_accounts_tenant_updated", "tenant_id", "updated_at", "id"),
        Index("ix_accounts_tenant_owner", "tenant_id", "owner_id", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(120))
    naics: Mapped[str | None] = mapped_column(String(6))
    state: Mapped[str | None] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(20))
    owner_id: Mapped[str | None] = mapped_column(String(24))
    # MCA merchant profile
    business_start_date: Mapped[date | None] = mapped_column(Date)
    entity_type: Mapped[str | None] = mapped_column(String(20))  # llc, s_corp, c_corp, sole_prop, partnership
    owner_fico: Mapped[int | None] = mapped_column()
    risk_tags: Mapped[list[str]] = mapped_column(Json, default=list)  # cannabis, adult, … (no clean NAICS)
    open_bankruptcy: Mapped[bool] = mapped_column(Boolean, default=False)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Contact(TenantScoped, Base):
    __tablename__ = "contacts"
    __extra_args__ = (
        tenant_fk("account_id", "accounts"),
        tenant_fk("owner_id", "users"),
        Index("ix_contacts_tenant_email", "tenant_id", "email"),
        Index("ix_contacts_tenant_phone", "tenant_id", "phone"),
        Index("ix_contacts_tenant_updated", "tenant_id", "updated_at", "id"),  # the list's whole order: see 0008
        Index("ix_contacts_tenant_owner", "tenant_id", "owner_id", "updated_at"),
        Index("ix_contacts_tenant_account", "tenant_id", "account_id"),
    )

    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(320))  # stored lower-case
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    account_id: Mapped[str | None] = mapped_column(String(24))
    title: Mapped[str | None] = mapped_column(String(120))
    owner_id: Mapped[str | None] = mapped_column(String(24))
    timezone: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual/import/api/web
    # Consent per channel. email: subscribed/unsubscribed/bounced; sms, call: unknown/opted_in/opted_out
    email_consent: Mapped[str] = mapped_column(String(16), default="subscribed")
    sms_consent: Mapped[str] = mapped_column(String(16), default="unknown")
    call_consent: Mapped[str] = mapped_column(String(16), default="unknown")
    # {"sms": {"at": iso, "how": "inbound STOP"}, …}: when and how each consent last changed
    consent_log: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    dnd: Mapped[bool] = mapped_column(Boolean, default=False)  # all channels
    dnd_channels: Mapped[list[str]] = mapped_column(Json, default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Tag(TenantScoped, Base):
    __tablename__ = "tags"
    __extra_args__ = (Index("uq_tags_tenant_name", "tenant_id", func.lower("name"), unique=True),)

    name: Mapped[str] = mapped_column(String(64))
    color: Mapped[str | None] = mapped_column(String(16))


class Tagging(TenantOwned, Base):
    """A tag on a contact, account or opportunity."""

    __tablename__ = "taggings"
    __extra_args__ = (
        tenant_fk("tag_id", "tags", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "record_type", "record_id", "tag_id"),
        Index("ix_taggings_tenant_tag", "tenant_id", "tag_id", "record_type"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    tag_id: Mapped[str] = mapped_column(String(24))
    record_type: Mapped[str] = mapped_column(String(16))  # contact/account/opportunity
    record_id: Mapped[str] = mapped_column(String(24))
