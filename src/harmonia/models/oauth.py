"""OAuth client registrations and authorization codes (SPEC §9).

Why these two tables carry no tenant: a client registers (RFC 7591) or is first seen by its metadata document URL
before anyone has signed in, so no workspace exists for it yet — one registration serves every workspace that later
consents to it. A code is issued after consent, but it is redeemed at the token endpoint by a client that names no
workspace: the lookup is by the code's hash, above tenants, the way a bearer token's tenant is parsed from the token
before its tenant's unit of work opens. Neither table holds a CRM record; the code names the tenant it was issued in,
and everything it is exchanged for (access and refresh tokens) lives in that tenant's `access_tokens`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, UTCDateTime, utcnow

__all__ = ["OAuthClient", "OAuthCode"]


class OAuthClient(Base):
    """A client the authorization server knows: registered (`dcr`, unverified name) or fetched (`cimd`, its id is the
    https URL of its metadata document, re-fetched when `fetched_at` is older than the cache time)."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # dcr / cimd
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(Json, default=list)
    document: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # what was registered or fetched
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OAuthCode(Base):
    """An authorization code: single use, short-lived, kept only as a hash. `family_id` is set when it is exchanged,
    so a replay can revoke what the first exchange issued."""

    __tablename__ = "oauth_codes"
    __table_args__ = (Index("ix_oauth_codes_expires_at", "expires_at"),)

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(512))
    tenant_id: Mapped[str] = mapped_column(String(24), ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(24))
    scopes: Mapped[list[str]] = mapped_column(Json, default=list)
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    resource: Mapped[str] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    family_id: Mapped[str | None] = mapped_column(String(24))
