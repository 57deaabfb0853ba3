"""Tenants (workspaces), their users and access tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, TenantOwned, TenantScoped, UTCDateTime, tenant_fk, utcnow

__all__ = ["ROLES", "SCOPES", "AccessToken", "AuditHead", "Scope", "Tenant", "User", "WebSession"]


class Scope(StrEnum):
    """The scopes a token or a role grants, in order of power; the one list (operations, tokens, docs read it)."""

    READ = "mcp:read"
    WRITE = "mcp:write"
    COMMS = "mcp:comms"
    ADMIN = "mcp:admin"


SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)
ROLES = ("owner", "admin", "member")


class Tenant(Base):
    """The root of isolation. Not tenant-scoped itself: its id *is* the tenant."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    plan: Mapped[str] = mapped_column(String(32), default="trial")
    # business_hours, quiet_hours, sender identity, send budgets…
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # The floor under every send. Off for every new tenant; only an owner (UI or server CLI) turns it on.
    outbound_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    outbound_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outbound_changed_by: Mapped[str | None] = mapped_column(String(200))
    outbound_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(TenantScoped, Base):
    __tablename__ = "users"
    __extra_args__ = (Index("uq_users_tenant_email", "tenant_id", func.lower("email"), unique=True),)

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="member")  # owner/admin/member
    status: Mapped[str] = mapped_column(String(16), default="active")  # invited/active/deactivated
    password_hash: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Sign-in lockout, kept with the person so every server process sees the same count (SPEC: ten failures in a
    # row lock the account for 15 minutes).
    failed_signins: Mapped[int] = mapped_column(server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(TenantOwned, Base):
    """A signed-in browser session. The signed cookie names it; sign-out ends it here, so a copy of the cookie stops
    working in every process (migration 0011). The id is random and useless without the cookie's signature."""

    __tablename__ = "web_sessions"
    __extra_args__ = (tenant_fk("user_id", "users", ondelete="CASCADE"),)

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessToken(TenantScoped, Base):
    """A bearer token. The secret is shown once; only its SHA-256 is kept."""

    __tablename__ = "access_tokens"
    __extra_args__ = (
        tenant_fk("user_id", "users"),
        UniqueConstraint("tenant_id", "secret_hash"),
        Index("ix_access_tokens_tenant_id_family_id", "tenant_id", "family_id"),
    )

    user_id: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(120))
    scopes: Mapped[list[str]] = mapped_column(Json, default=list)
    secret_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(40))  # what the UI shows: "hm_tn_01JD…_a1b2"
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # OAuth (SPEC §9): `static` (hm_ tokens made by a person), or an `access`/`refresh` token issued to `client_id`
    # for `resource`; the tokens of one consent share `family_id` (a "connected app"), revoked together.
    kind: Mapped[str] = mapped_column(String(8), default="static", server_default="static")
    client_id: Mapped[str | None] = mapped_column(String(512))
    resource: Mapped[str | None] = mapped_column(String(512))
    family_id: Mapped[str | None] = mapped_column(String(24))


class AuditHead(TenantOwned, Base):
    """The tip of each tenant's audit hash chain; its row lock serialises appends per tenant."""

    __tablename__ = "audit_heads"

    seq: Mapped[int] = mapped_column(default=0)
    hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
