"""People signing in: argon2 passwords, sign-in, invitation links.

Sign-in is not an operation of the registry: it is how a person *becomes* an actor. Everything after it goes through
`invoke()` like any other surface. Unknown workspace, unknown email, wrong password and deactivated user all get the
same answer, after the same amount of hashing work, so the form cannot be used to discover who has an account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from ..db import Actor, Database
from ..errors import InvalidArguments, NotFound, Unauthenticated
from ..models import Tenant, User, WebSession, utcnow
from . import audit
from .tenancy import ROLE_SCOPES, get_tenant, system_actor

__all__ = [
    "Person",
    "accept_invitation",
    "invitation_link_token",
    "person_actor",
    "person_at_server",
    "read_invitation",
    "set_password",
    "sign_in",
    "sign_out",
]

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("timing-equaliser")
MIN_PASSWORD = 10
INVITATION_DAYS = 7
_SIGN_IN_REFUSAL = "that workspace, email and password do not match an active account"


@dataclass(frozen=True)
class Person:
    """Who is signed in: what the web session keeps (ids only; role and status are re-read on every request)."""

    tenant_id: str
    tenant_slug: str
    tenant_name: str
    user_id: str
    name: str
    email: str
    role: str
    timezone: str = "America/New_York"  # the person's, else the workspace's: how the pages show times
    outbound_enabled: bool = False
    session_id: str = ""  # the server-side web session (web_sessions) this sign-in opened


LOCK_AFTER = 10  # failed sign-ins in a row
LOCK_FOR = timedelta(minutes=15)


def check_password_strength(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidArguments(f"a password needs at least {MIN_PASSWORD} characters", field="password")
    if len(password) > 1024:
        raise InvalidArguments("a password can be at most 1024 characters", field="password")
    return password


def set_password(db: Database, tenant_slug: str, email: str, password: str, *, channel: str = "cli") -> User:
    """Set (or reset) a person's password at the server; an invited person becomes active."""
    check_password_strength(password)
    tenant = get_tenant(db, tenant_slug)
    with db.unit_of_work(system_actor(tenant.id, channel)) as uow:
        user = uow.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        if user is None:
            raise NotFound(f"no user {email!r} in workspace {tenant.slug!r}")
        user.password_hash = _hasher.hash(password)
        if user.status == "invited":
            user.status = "active"
        audit.append(uow, action="users_password_set", outcome="ok", target_type="user", target_id=user.id)
    return user


def sign_in(db: Database, workspace: str, email: str, password: str) -> Person:
    """The person behind these credentials, or `Unauthenticated` with one message for every kind of mismatch.

    Ten failures in a row lock that account for 15 minutes. The count lives on the person's row, so every server
    process sees it (a per-process counter would give N processes N times the guesses)."""
    try:
        tenant = get_tenant(db, workspace.strip().lower())
    except NotFound:
        tenant = None
    user = None
    if tenant is not None:
        with db.unit_of_work(Actor(tenant_id=tenant.id, channel="ui"), write=False) as uow:
            user = uow.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
            now = uow.now()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            _audit_sign_in(db, tenant.id, user.id, "denied", failed=False)
            raise Unauthenticated(
                "too many failed sign-ins for this account; wait 15 minutes or ask an owner to reset it"
            )
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password) and stored is not _DUMMY_HASH
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or tenant is None or user is None or user.status != "active":
        if tenant is not None:
            _audit_sign_in(db, tenant.id, user.id if user else None, "denied", failed=True)
        raise Unauthenticated(_SIGN_IN_REFUSAL)
    _audit_sign_in(
        db, tenant.id, user.id, "ok", seen=True, rehash=password if _hasher.check_needs_rehash(stored) else None
    )
    return Person(tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_name=tenant.name, user_id=user.id,
                  name=user.name, email=user.email, role=user.role,
                  session_id=_open_session(db, tenant.id, user.id))  # fmt: skip


def _audit_sign_in(
    db: Database,
    tenant_id: str,
    user_id: str | None,
    outcome: str,
    *,
    seen: bool = False,
    rehash: str | None = None,
    failed: bool = False,
) -> None:
    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="ui", user_id=user_id)) as uow:
        user = uow.session.scalar(select(User).where(User.id == user_id)) if user_id else None
        if user is not None:
            now = uow.now()
            if outcome == "ok":
                user.failed_signins, user.locked_until = 0, None
            elif failed:
                user.failed_signins = (user.failed_signins or 0) + 1
                if user.failed_signins >= LOCK_AFTER:
                    user.failed_signins, user.locked_until = 0, now + LOCK_FOR
            if seen:
                user.last_seen_at = now
            if rehash:
                user.password_hash = _hasher.hash(rehash)
        audit.append(uow, action="sign_in", outcome=outcome, target_type="user" if user_id else None,
                     target_id=user_id, detail="locked" if outcome == "denied" and not failed else None)  # fmt: skip


def person_at_server(db: Database, tenant_slug: str, email: str, *, channel: str = "cli") -> Actor:
    """A person of the workspace acting at the server's command line: their current role and its scopes."""
    tenant = get_tenant(db, tenant_slug)
    with db.unit_of_work(Actor(tenant_id=tenant.id, channel=channel), write=False) as uow:
        user = uow.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or user.status == "deactivated":
        raise NotFound(f"no active user {email!r} in workspace {tenant.slug!r}")
    return Actor(tenant_id=tenant.id, channel=channel, user_id=user.id, role=user.role,
                 scopes=ROLE_SCOPES.get(user.role, frozenset()), client="harmonia cli")  # fmt: skip


def person_actor(
    db: Database, tenant_id: str, user_id: str, request_id: str | None = None, *, session_id: str | None = None
) -> tuple[Actor, Person]:
    """A web session's actor, re-read from the database on each request so a role change or deactivation bites at
    once. `Unauthenticated` when the person is gone or deactivated, or `session_id` was signed out."""
    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="ui"), write=False) as uow:
        user = uow.session.scalar(select(User).where(User.id == user_id))
        tenant = uow.session.get(Tenant, tenant_id)
        live = session_id is None or uow.session.scalar(
            select(WebSession.id).where(
                WebSession.id == session_id, WebSession.user_id == user_id, WebSession.ended_at.is_(None)
            )
        )
    if user is None or tenant is None or user.status != "active" or not live:
        raise Unauthenticated("your session has ended; sign in again")
    actor = Actor(tenant_id=tenant_id, channel="ui", user_id=user.id, role=user.role,
                  scopes=ROLE_SCOPES.get(user.role, frozenset()), request_id=request_id)  # fmt: skip
    person = Person(tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_name=tenant.name, user_id=user.id,
                    name=user.name, email=user.email, role=user.role, timezone=user.timezone or tenant.timezone,
                    outbound_enabled=tenant.outbound_enabled)  # fmt: skip
    return actor, person


def _open_session(db: Database, tenant_id: str, user_id: str) -> str:
    session_id = secrets.token_urlsafe(24)
    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="ui", user_id=user_id)) as uow:
        uow.session.add(WebSession(id=session_id, user_id=user_id))
    return session_id


def sign_out(db: Database, tenant_id: str, user_id: str, session_id: str) -> None:
    """End this web session on the server: `person_actor` refuses it from now on in every process, so a copy of the
    cookie made before sign-out stops working too. An unknown or already ended session does nothing."""
    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="ui", user_id=user_id)) as uow:
        row = uow.session.scalar(select(WebSession).where(WebSession.id == session_id, WebSession.user_id == user_id))
        if row is None or row.ended_at is not None:
            return
        row.ended_at = uow.now()
        audit.append(uow, action="sign_out", outcome="ok", target_type="user", target_id=user_id)


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="harmonia-invitation")


def invitation_link_token(secret_key: str, tenant_id: str, user_id: str) -> str:
    """A signed, expiring token for the invitation link an admin copies to the invitee. It names the user but is
    only good while that user is still `invited`, so accepting it once spends it."""
    return _serializer(secret_key).dumps({"t": tenant_id, "u": user_id})


def read_invitation(db: Database, secret_key: str, token: str) -> tuple[Tenant, User]:
    refusal = NotFound("this invitation link is unknown, expired or already used; ask for a new one")
    try:
        data = _serializer(secret_key).loads(token, max_age=INVITATION_DAYS * 86400)
    except (BadSignature, SignatureExpired):
        raise refusal from None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str) or not isinstance(data.get("u"), str):
        raise refusal
    with db.unit_of_work(Actor(tenant_id=data["t"], channel="ui"), write=False) as uow:
        tenant = uow.session.get(Tenant, data["t"])
        user = uow.session.scalar(select(User).where(User.id == data["u"]))
    if tenant is None or user is None or user.status != "invited":
        raise refusal
    return tenant, user


def accept_invitation(db: Database, secret_key: str, token: str, name: str, password: str) -> Person:
    tenant, user = read_invitation(db, secret_key, token)
    check_password_strength(password)
    if not name.strip():
        raise InvalidArguments("your name cannot be empty", field="name")
    with db.unit_of_work(Actor(tenant_id=tenant.id, channel="ui", user_id=user.id)) as uow:
        row = uow.session.scalar(select(User).where(User.id == user.id, User.status == "invited"))
        if row is None:
            raise NotFound("this invitation was used a moment ago; sign in instead")
        row.name, row.password_hash, row.status = name.strip()[:200], _hasher.hash(password), "active"
        row.last_seen_at = utcnow()
        audit.append(uow, action="users_accept_invitation", outcome="ok", target_type="user", target_id=row.id,
                     after={"status": "active"})  # fmt: skip
    return Person(tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_name=tenant.name, user_id=user.id,
                  name=name.strip(), email=user.email, role=user.role,
                  session_id=_open_session(db, tenant.id, user.id))  # fmt: skip
