"""A workspace's administration reads and writes: its users, its audit log, its access tokens, the tenant row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from ..db import UnitOfWork
from ..errors import Conflict
from ..ids import new_id
from ..models import AccessToken, AuditEvent, Tenant, User
from . import tenancy
from .paging import page

__all__ = [
    "count_active_owners",
    "current_tenant",
    "invite_user",
    "issue_token",
    "list_audit",
    "list_tokens",
    "list_users",
    "user_email",
]


def current_tenant(uow: UnitOfWork) -> Tenant:
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None  # a unit of work is only ever opened for an existing tenant
    return tenant


def list_users(
    uow: UnitOfWork, *, status: str | None, role: str | None, limit: int | None, cursor: str | None
) -> tuple[list[User], str | None]:
    """By email."""
    stmt: Select[Any] = select(User)
    if status:
        stmt = stmt.where(User.status == status)
    if role:
        stmt = stmt.where(User.role == role)
    return page(uow.session, stmt, sort=User.email, tiebreak=User.id, descending=False, limit=limit, cursor=cursor)


def invite_user(uow: UnitOfWork, *, email: str, name: str, role: str) -> User:
    """A new user, invited; an email that already has a user in this workspace is refused, naming them."""
    email = email.lower()
    existing = uow.session.scalar(select(User).where(func.lower(User.email) == email))
    if existing is not None:
        raise Conflict(f"{existing.name} ({existing.id}) already has {email} in this workspace; users_update changes "
                       "their role or reactivates them")  # fmt: skip
    user = User(id=new_id("user"), email=email, name=name, role=role, status="invited")
    uow.session.add(user)
    return user


def count_active_owners(uow: UnitOfWork) -> int:
    owners = uow.session.scalar(
        select(func.count()).select_from(User).where(User.role == "owner", User.status == "active")
    )
    return owners or 0


def list_audit(
    uow: UnitOfWork,
    filters: dict[str, Any],
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    cursor: str | None,
    leave_out_reads_of: list[str] | None = None,
) -> tuple[list[AuditEvent], str | None]:
    """The audit log, newest first; `filters` are column == value (None: not filtered). `leave_out_reads_of`: the
    read operations whose successful calls are left out (their refusals and errors stay: someone tried)."""
    stmt: Select[Any] = select(AuditEvent)
    if leave_out_reads_of:
        stmt = stmt.where(~((AuditEvent.outcome == "ok") & AuditEvent.action.in_(leave_out_reads_of)))
    for field, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(AuditEvent, field) == value)
    if since:
        stmt = stmt.where(AuditEvent.at >= since)
    if until:
        stmt = stmt.where(AuditEvent.at < until)
    return page(uow.session, stmt, sort=AuditEvent.seq, tiebreak=AuditEvent.id, limit=limit, cursor=cursor)


def list_tokens(
    uow: UnitOfWork, *, user_id: str | None, include_revoked: bool, limit: int | None, cursor: str | None
) -> tuple[list[AccessToken], str | None]:
    """Access tokens, newest first: one person's when `user_id` is given, else everyone's."""
    stmt: Select[Any] = select(AccessToken)
    if user_id:
        stmt = stmt.where(AccessToken.user_id == user_id)
    if not include_revoked:
        stmt = stmt.where(AccessToken.revoked_at.is_(None))
    return page(uow.session, stmt, sort=AccessToken.created_at, tiebreak=AccessToken.id, limit=limit, cursor=cursor)


def user_email(uow: UnitOfWork, user_id: str) -> str | None:
    return uow.session.scalar(select(User.email).where(User.id == user_id))


def issue_token(
    uow: UnitOfWork, *, user_id: str, scopes: list[str], name: str, expires_at: datetime | None
) -> tenancy.IssuedToken:
    """A new token, written (so its creation time is known to the answer); the secret is only in the result."""
    issued = tenancy.issue_token(uow, user_id=user_id, scopes=scopes, name=name, expires_at=expires_at)
    uow.session.flush()
    return issued
