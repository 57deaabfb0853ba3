"""Values of this installation, above every tenant.

Why no tenant: the email-event webhook's HMAC key (services/comms.py `email_webhook_key`) belongs to the server, not
to a workspace — the provider signs every event with it before anyone knows which workspace it concerns. It is random
per install and made on first use, never a default someone could read in the source. The application role may read
and add values, never change or remove one (migration 0010).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime

__all__ = ["Installation"]


class Installation(Base):
    """One value of this installation, by key."""

    __tablename__ = "installation"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
