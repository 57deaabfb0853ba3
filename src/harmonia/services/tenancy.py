"""Tenants, users and access tokens: creating workspaces and turning a bearer secret into an `Actor`.

Token format: `hm_<tenant id>_<32 random chars>`. The tenant id in the secret lets us look the token up *inside*
that tenant's unit of work (no cross-tenant query, RLS-friendly); only the SHA-256 of the whole secret is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from ..db import Actor, Database, UnitOfWork
from ..errors import Conflict, Forbidden, InvalidArguments, NotFound, Unauthenticated
from ..ids import new_id
from ..models import ROLES, SCOPES, AccessToken, Pipeline, Stage, Tenant, User, utcnow
from ..queries import TENANT, Query
from . import audit

__all__ = [
    "MCA_STAGES",
    "ROLE_RANK",
    "ROLE_SCOPES",
    "IssuedToken",
    "apply_outbound",
    "authenticate",
    "bearer_fits",
    "create_tenant",
    "create_token",
    "effective_scopes",
    "get_tenant",
    "issue_token",
    "owner_actor",
    "require_outbound_authority",
    "revoke_token",
    "set_outbound",
    "slugify",
    "system_actor",
]

# (name, kind, probability, stale threshold in days) — research/mca-domain.md §1.2
MCA_STAGES: tuple[tuple[str, str, float, int | None], ...] = (
    ("New Lead", "open", 0.05, 2),
    ("Contacted", "open", 0.10, 5),
    ("App Out", "open", 0.15, 3),
    ("Docs Pending", "open", 0.25, 5),
    ("Ready to Submit", "open", 0.35, 2),
    ("Submitted", "open", 0.45, 3),
    ("Offers In", "open", 0.60, 3),
    ("Contracts Out", "open", 0.80, 2),
    ("Funded", "won", 1.0, None),
    ("Dead", "lost", 0.0, None),
)

# What a signed-in person may do, by role. Tokens carry explicit scopes instead.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": frozenset(SCOPES),
    "admin": frozenset(SCOPES),
    "member": frozenset({"mcp:read", "mcp:write", "mcp:comms"}),
}

_TOKEN_RE = re.compile(r"^hm_(tn_[0-9A-Z]{20})_([A-Za-z0-9_-]{20,64})$")


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:48] or "workspace"


def system_actor(tenant_id: str, channel: str = "system", user_id: str | None = None) -> Actor:
    return Actor(tenant_id=tenant_id, channel=channel, user_id=user_id, scopes=frozenset(SCOPES), role="owner")


def get_tenant(db: Database, slug_or_id: str) -> Tenant:
    with db.system_session(write=False) as s:
        tenant = s.scalar(select(Tenant).where((Tenant.slug == slug_or_id) | (Tenant.id == slug_or_id)))
    if tenant is None:
        raise NotFound(f"no workspace {slug_or_id!r}; `harmonia tenants create NAME` makes one")
    return tenant


def create_tenant(
    db: Database,
    name: str,
    *,
    owner_email: str | None = None,
    owner_name: str | None = None,
    timezone: str = "America/New_York",
    channel: str = "cli",
) -> tuple[Tenant, User | None]:
    """A new workspace with outbound **off**, its owner, and the default MCA pipeline."""
    name = name.strip()
    if not name:
        raise InvalidArguments("a workspace needs a name")
    base = slugify(name)
    with db.system_session() as s:
        taken = set(s.scalars(select(Tenant.slug).where(Tenant.slug.like(f"{base}%"))))
        slug = base
        n = 2
        while slug in taken:
            slug = f"{base}-{n}"
            n += 1
        tenant = Tenant(
            id=new_id("tenant"),
            name=name,
            slug=slug,
            timezone=timezone,
            outbound_enabled=False,
            settings=_default_settings(),
        )
        s.add(tenant)
    owner: User | None = None
    actor = system_actor(tenant.id, channel)
    with db.unit_of_work(actor) as uow:
        if owner_email:
            owner = User(
                id=new_id("user"),
                email=owner_email.strip().lower(),
                role="owner",
                status="active",
                name=owner_name or owner_email.split("@")[0].replace(".", " ").title(),
            )
            uow.session.add(owner)
        _create_default_pipeline(uow)
        audit.append(
            uow,
            action="tenants_create",
            outcome="ok",
            target_type="tenant",
            target_id=tenant.id,
            after={"name": name, "slug": slug, "outbound_enabled": False},
        )
    return tenant, owner


def _default_settings() -> dict[str, object]:
    return {
        "business_hours": {"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]},
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "sender": {"email_from": None, "name": None, "sms_from": None},
        "send_budget_per_hour": {"email": 200, "sms": 100, "call": 50},
    }


def _create_default_pipeline(uow: UnitOfWork) -> Pipeline:
    pipeline = Pipeline(id=new_id("pipeline"), name="MCA New Business", position=0)
    uow.session.add(pipeline)
    for position, (stage_name, kind, probability, stale_days) in enumerate(MCA_STAGES):
        uow.session.add(
            Stage(
                id=new_id("stage"),
                pipeline_id=pipeline.id,
                name=stage_name,
                position=position,
                kind=kind,
                probability=probability,
                stale_days=stale_days,
            )
        )
    return pipeline


@dataclass(frozen=True)
class IssuedToken:
    token: AccessToken
    secret: str  # shown once


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    uow: UnitOfWork, *, user_id: str, scopes: list[str], name: str, expires_at: datetime | None = None
) -> IssuedToken:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidArguments(f"unknown scopes {unknown}; choose from {', '.join(SCOPES)}")
    user = uow.session.scalar(select(User).where(User.id == user_id))
    if user is None or user.status == "deactivated":
        raise NotFound(f"user {user_id!r} not found or deactivated")
    secret = f"hm_{uow.tenant_id}_{secrets.token_urlsafe(24)}"
    token = AccessToken(
        id=new_id("access_token"),
        user_id=user.id,
        name=name.strip() or "token",
        scopes=[s for s in SCOPES if s in scopes],
        secret_hash=_hash(secret),
        prefix=secret[: len("hm_") + len(uow.tenant_id) + 5],
        expires_at=expires_at,
    )
    uow.session.add(token)
    return IssuedToken(token=token, secret=secret)


def create_token(
    db: Database,
    tenant_slug: str,
    user_email: str,
    scopes: list[str],
    name: str | None = None,
    *,
    channel: str = "cli",
) -> IssuedToken:
    tenant = get_tenant(db, tenant_slug)
    with db.unit_of_work(system_actor(tenant.id, channel)) as uow:
        user = uow.session.scalar(select(User).where(func.lower(User.email) == user_email.strip().lower()))
        if user is None:
            raise NotFound(f"no user {user_email!r} in workspace {tenant.slug!r}")
        issued = issue_token(uow, user_id=user.id, scopes=scopes, name=name or f"{user.email} token")
        audit.append(
            uow,
            action="tokens_create",
            outcome="ok",
            target_type="access_token",
            target_id=issued.token.id,
            after={"name": issued.token.name, "scopes": issued.token.scopes},
        )
    return issued


def revoke_token(uow: UnitOfWork, token_id: str) -> AccessToken:
    token = uow.session.scalar(select(AccessToken).where(AccessToken.id == token_id))
    if token is None:
        raise NotFound(f"token {token_id!r} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


# How often last_used_at is written: a write per call would turn every read into a write.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def effective_scopes(token_scopes: list[str] | frozenset[str], role: str | None) -> frozenset[str]:
    """What a call may do: the token's scopes, narrowed to what the person's current role allows. A demoted admin's
    old `mcp:admin` token is a member's token from the moment of the demotion."""
    return frozenset(token_scopes) & ROLE_SCOPES.get(role or "", frozenset())


def bearer_fits(token: Any, resource: str | None) -> bool:
    """OAuth (SPEC §9): a refresh token is never a bearer, and an access token serves only the resource it was issued
    for (or a path under it: /mcp's token also opens /mcp/readonly). Static hm_ tokens serve everything."""
    if token.kind == "refresh":
        return False
    if token.resource is None:
        return True
    return resource is not None and (resource == token.resource or resource.startswith(token.resource + "/"))


_AT, _USER = AccessToken.__table__, User.__table__
# The token and its person in one indexed read, compiled once (harmonia.queries): every request of every surface runs
# it, so it costs what a driver round trip costs rather than what an ORM select costs.
_TOKEN = Query(
    select(_AT.c.id, _AT.c.name, _AT.c.scopes, _AT.c.kind, _AT.c.resource, _AT.c.revoked_at, _AT.c.expires_at,
           _AT.c.last_used_at, _USER.c.id.label("user_id"), _USER.c.role, _USER.c.status)
    .select_from(_AT.join(_USER, (_USER.c.tenant_id == _AT.c.tenant_id) & (_USER.c.id == _AT.c.user_id)))
    .where(_AT.c.tenant_id == TENANT, _USER.c.tenant_id == TENANT, _AT.c.secret_hash == bindparam("secret_hash"))
)  # fmt: skip


def authenticate(
    db: Database, secret: str | None, *, channel: str, request_id: str | None = None, resource: str | None = None
) -> Actor:
    """Turn a bearer secret into an Actor, or raise Unauthenticated. Unknown, malformed, revoked: same answer.
    `resource` is the URL being called, which an OAuth access token must be bound to.

    Checked against the database on every call (one indexed read of the token and its person), in every process:
    a revoked token or connected app, a deactivated person or a demotion takes effect on the very next call,
    whichever process serves it. No cache to go stale."""
    refusal = Unauthenticated("missing, unknown, expired or revoked token; create one with `harmonia tokens create`")
    if not secret:
        raise refusal
    match = _TOKEN_RE.match(secret.strip())
    if match is None:
        raise refusal
    tenant_id = match.group(1)
    secret_hash = _hash(secret.strip())
    reader = Actor(tenant_id=tenant_id, channel=channel)
    with db.unit_of_work(reader, write=False) as uow:
        found = _TOKEN.rows(uow, secret_hash=secret_hash)
        now = uow.now()
    if not found:
        raise refusal
    token = found[0]
    if token.revoked_at or (token.expires_at and token.expires_at <= now) or not bearer_fits(token, resource):
        raise refusal
    if token.status != "active":
        raise refusal
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
        with db.unit_of_work(reader) as uow:
            row = uow.session.scalar(select(AccessToken).where(AccessToken.id == token.id))
            if row is not None:
                row.last_used_at = now
    return Actor(
        tenant_id=tenant_id,
        channel=channel,
        user_id=token.user_id,
        role=token.role,
        token_id=token.id,
        client=token.name,
        scopes=effective_scopes(token.scopes, token.role),
        request_id=request_id,
    )


ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}


def require_outbound_authority(actor: Actor) -> None:
    """The one rule for turning outbound on (SPEC §5): an owner, acting in the web UI or at the server's command line.
    Never an API or MCP token, whatever it holds."""
    if actor.role != "owner" or actor.channel not in ("ui", "cli"):
        raise Forbidden("only a workspace owner, in the web UI or at the server's command line, can turn outbound on")


def set_outbound(db: Database, tenant_slug: str, enabled: bool, *, actor: Actor, reason: str | None) -> Tenant:
    """The outbound switch. Turning it on needs an owner acting in the UI or at the server's command line."""
    tenant = get_tenant(db, tenant_slug)
    if enabled:
        require_outbound_authority(actor)
    if actor.tenant_id != tenant.id:
        raise NotFound(f"no workspace {tenant_slug!r}")
    with db.unit_of_work(actor) as uow:
        row = uow.session.get(Tenant, tenant.id)
        assert row is not None
        before = row.outbound_enabled
        apply_outbound(row, enabled, actor, reason)
        audit.append(
            uow,
            action="outbound_on" if enabled else "outbound_off",
            outcome="ok",
            target_type="tenant",
            target_id=tenant.id,
            before={"outbound_enabled": before},
            after={"outbound_enabled": enabled},
            detail=reason,
        )
    return get_tenant(db, tenant.id)


def apply_outbound(tenant: Tenant, enabled: bool, actor: Actor, reason: str | None) -> None:
    """Flip the switch on a loaded row; who may do it is the caller's check (see `set_outbound`)."""
    tenant.outbound_enabled = enabled
    tenant.outbound_changed_at = utcnow()
    tenant.outbound_changed_by = actor.user_id or actor.channel
    tenant.outbound_reason = (reason or "").strip()[:500] or None


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"this needs the {' or '.join(roles)} role")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidArguments(f"role must be one of {', '.join(ROLES)}")
    return role


def ensure_unique_email(uow: UnitOfWork, email: str) -> None:
    if uow.session.scalar(select(User.id).where(func.lower(User.email) == email.lower())):
        raise Conflict(f"a user with email {email!r} already exists in this workspace")


def owner_actor(db: Database, tenant_id: str, *, channel: str) -> Actor:
    """The workspace owner acting at the server (CLI) — the one place outside the UI where an owner acts."""
    with db.unit_of_work(Actor(tenant_id=tenant_id, channel=channel), write=False) as uow:
        owner = uow.session.scalar(
            select(User).where(User.role == "owner", User.status == "active").order_by(User.created_at).limit(1)
        )
    return Actor(
        tenant_id=tenant_id,
        channel=channel,
        user_id=owner.id if owner else None,
        role="owner",
        scopes=frozenset(SCOPES),
        client="harmonia cli" if channel == "cli" else None,
    )
