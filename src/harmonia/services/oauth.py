"""Harmonia as its own OAuth 2.1 authorization server (SPEC §9): clients, codes, and the tokens they turn into.

Why not the SDK's `mcp.server.auth` handlers: real clients break them (research/roadmap.md §1) — scopes split on one
space (Claude sends `" offline_access"`), exact redirect matching refuses the random loopback ports of native clients
(RFC 8252 §7.3), the token handler drops `resource` (RFC 8707), and there is no server-side CIMD fetch. The rules
are written here, once, and the SDK's client drives them in the tests.

Tokens: access and refresh tokens are rows of the tenant's `access_tokens` (kind `access`/`refresh`), in the same
`hm_<tenant>_<random>` format as static tokens, so `authenticate()` and the scopes work unchanged. An access token
lives an hour and serves only its resource; a refresh token is used once and replaced (rotation); presenting one
that was already used revokes its whole family — the tokens of one consent, which the UI calls a connected app.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from ..db import Actor, Database, UnitOfWork
from ..egress import EgressRefused, EgressResponse, GuardedTransport, fetch, trust
from ..errors import HarmoniaError
from ..ids import new_id
from ..models import SCOPES, AccessToken, OAuthClient, OAuthCode, User
from . import audit
from .tenancy import ROLE_SCOPES

__all__ = [
    "ACCESS_TTL",
    "CODE_TTL",
    "DEFAULT_SCOPES",
    "SCOPE_SENTENCES",
    "ConnectedApp",
    "OAuthError",
    "TokenGrant",
    "already_allowed",
    "connected_apps",
    "create_code",
    "document_fetcher",
    "exchange_code",
    "redirect_allowed",
    "refresh",
    "register_client",
    "resolve_client",
    "revoke_family",
    "revoke_secret",
    "split_scopes",
]

CODE_TTL = timedelta(minutes=10)
ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(days=30)
CIMD_CACHE = timedelta(hours=1)
CIMD_MAX_BYTES = 16 * 1024
STALE_REGISTRATION = timedelta(days=1)  # a DCR client never used within a day is removed
# What a client gets when it asks for nothing: enough to work; mcp:admin only on request (step-up).
DEFAULT_SCOPES = ("mcp:read", "mcp:write", "mcp:comms")

SCOPE_SENTENCES = {
    "mcp:read": "Read your contacts, accounts, deals, conversations, tasks and reports, and search them.",
    "mcp:write": "Create and change records: contacts, deals and their stages, tasks, notes, tags and email drafts.",
    "mcp:comms": "Send email and SMS and place calls — every send still obeys the workspace's outbound switch, "
    "consent and quiet hours.",
    "mcp:admin": "Manage users and workspace settings, and read the audit log.",
}

_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "localhost")


class OAuthError(HarmoniaError):
    """An OAuth error response (RFC 6749 §5.2): `error` is the wire code, the message its description."""

    code = "oauth_error"
    http_status = 400

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.status = status


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int
    scopes: list[str]

    def response(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in,
                "refresh_token": self.refresh_token, "scope": " ".join(self.scopes)}  # fmt: skip


def split_scopes(raw: str | None) -> list[str]:
    """Scopes named in a request, split on any whitespace, in SCOPES order; names we do not issue (offline_access:
    a refresh token always comes with the grant) are ignored."""
    named = set((raw or "").split())
    return [s for s in SCOPES if s in named]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- redirect URIs ------------------------------------------------------------------------------------------------


def check_redirect_uri(uri: str) -> str:
    """A redirect URI a client may register: https, http on a loopback host (RFC 8252 §7.3), or a private-use scheme
    of a native app (`cursor://…`, RFC 8252 §7.1). Never a fragment, never a script or data URL."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or parts.fragment or len(uri) > 2000:
        raise OAuthError("invalid_redirect_uri", f"redirect URI {uri!r} must be absolute, without a fragment")
    if scheme in ("javascript", "data", "file", "vbscript", "about", "blob"):
        raise OAuthError("invalid_redirect_uri", f"redirect URI {uri!r} uses a scheme that is refused")
    if scheme == "http" and f"[{parts.hostname}]" not in _LOOPBACK_HOSTS and parts.hostname not in _LOOPBACK_HOSTS:
        raise OAuthError("invalid_redirect_uri", f"redirect URI {uri!r}: plain http is only allowed to a loopback host")
    if scheme in ("http", "https") and not parts.hostname:
        raise OAuthError("invalid_redirect_uri", f"redirect URI {uri!r} has no host")
    return uri


def redirect_allowed(registered: list[str], given: str) -> bool:
    """Exact match, except that a loopback redirect may use any port (native apps pick one at run time)."""
    if given in registered:
        return True
    g = urlsplit(given)
    if g.scheme != "http" or g.hostname is None or _bracketed(g.hostname) not in _LOOPBACK_HOSTS:
        return False
    for uri in registered:
        r = urlsplit(uri)
        if (r.scheme, r.hostname, r.path or "/", r.query) == (g.scheme, g.hostname, g.path or "/", g.query):
            return True
    return False


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- clients ------------------------------------------------------------------------------------------------------


class _Window:
    """At most `limit` events per key in `window` seconds (per process): registration is open to anyone."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            events = self._events[key]
            while events and events[0] < now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True


registrations = _Window(limit=20, window=600.0)


def register_client(db: Database, body: Any, *, remote: str) -> OAuthClient:
    """Dynamic Client Registration (RFC 7591). Public clients only: the answer's auth method is always `none`."""
    if not registrations.take(remote):
        raise OAuthError("too_many_registrations", "too many registrations from this address; try again later", 429)
    if not isinstance(body, dict):
        raise OAuthError("invalid_client_metadata", "the registration must be a JSON object")
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris) or len(uris) > 20:
        raise OAuthError("invalid_redirect_uri", "redirect_uris must be a list of 1 to 20 URIs")
    for uri in uris:
        check_redirect_uri(uri)
    name = body.get("client_name") if isinstance(body.get("client_name"), str) else None
    now = db.clock.now()
    client = OAuthClient(
        client_id=f"hmc_{secrets.token_urlsafe(18)}",
        kind="dcr",
        name=(name or urlsplit(uris[0]).hostname or "an unnamed client").strip()[:200],
        redirect_uris=list(uris),
        document={k: v for k, v in body.items() if k in ("client_name", "client_uri", "logo_uri", "scope",
                                                         "software_id", "software_version", "application_type")},
        created_at=now,
    )  # fmt: skip
    with db.system_session() as s:
        # Stale registrations (never used within a day) go as new ones come: the table cannot grow without bound.
        s.execute(delete(OAuthClient).where(OAuthClient.kind == "dcr", OAuthClient.last_used_at.is_(None),
                                            OAuthClient.created_at < now - STALE_REGISTRATION))  # fmt: skip
        s.add(client)
    return client


Fetcher = Callable[[str], EgressResponse]


def document_fetcher(ca_file: str | None = None) -> Fetcher:
    def fetch_document(url: str) -> EgressResponse:
        return fetch(url, follow_redirects=False, max_bytes=CIMD_MAX_BYTES, headers={"Accept": "application/json"},
                     transport=GuardedTransport(verify=trust(ca_file)))  # fmt: skip

    return fetch_document


def resolve_client(db: Database, client_id: str, *, fetcher: Fetcher | None = None) -> OAuthClient:
    """The client behind `client_id`: a registered one, or — for an https URL — its Client ID Metadata Document,
    fetched through the egress guard (no redirects, size cap, no private addresses unless allowed) and cached."""
    with db.system_session(write=False) as s:
        known = s.get(OAuthClient, client_id)
    now = db.clock.now()
    if not client_id.startswith("https://"):
        if known is None:
            raise OAuthError("invalid_client", "this client is not registered here; register it again", 401)
        return known
    if known is not None and known.fetched_at is not None and now - known.fetched_at < CIMD_CACHE:
        return known
    parts = urlsplit(client_id)
    if len(client_id) > 512 or parts.path in ("", "/") or parts.fragment or parts.username:
        raise OAuthError("invalid_client", "a client id URL must be https with a path, at most 512 characters", 401)
    try:
        answer = (fetcher or document_fetcher())(client_id)
        document = answer.json() if answer.status_code == 200 else None
    except (EgressRefused, ValueError) as error:
        detail = error.message if isinstance(error, EgressRefused) else "it is not JSON"
        raise OAuthError("invalid_client", f"the client's metadata document could not be used: {detail}", 401) from None
    if not isinstance(document, dict) or document.get("client_id") != client_id:
        raise OAuthError("invalid_client", "the client's metadata document must be JSON naming its own URL as "
                         "client_id", 401)  # fmt: skip
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise OAuthError("invalid_client", "the client's metadata document lists no redirect_uris", 401)
    for uri in uris:
        check_redirect_uri(uri)
    name = document.get("client_name") if isinstance(document.get("client_name"), str) else parts.hostname
    with db.system_session() as s:
        row = s.get(OAuthClient, client_id)
        if row is None:
            row = OAuthClient(client_id=client_id, kind="cimd", created_at=now)
            s.add(row)
        row.name, row.redirect_uris, row.fetched_at = str(name or "client")[:200], list(uris)[:20], now
        row.document = {k: v for k, v in document.items() if k in ("client_name", "client_uri", "logo_uri")}
    with db.system_session(write=False) as s:
        fresh = s.get(OAuthClient, client_id)
    assert fresh is not None
    return fresh


# --- codes --------------------------------------------------------------------------------------------------------


def create_code(
    db: Database,
    actor: Actor,
    *,
    client: OAuthClient,
    scopes: list[str],
    redirect_uri: str,
    code_challenge: str,
    resource: str,
) -> str:
    """A code for the consent the signed-in person (`actor`) just gave; audited in their workspace."""
    code = secrets.token_urlsafe(32)
    assert actor.user_id is not None
    now = db.clock.now()
    with db.system_session() as s:
        # Spent and expired codes are kept a day (a replay inside it still revokes what the code issued), then go.
        s.execute(delete(OAuthCode).where(OAuthCode.expires_at < now - timedelta(days=1)))
        s.add(OAuthCode(code_hash=_hash(code), client_id=client.client_id, tenant_id=actor.tenant_id,
                        user_id=actor.user_id, scopes=scopes, redirect_uri=redirect_uri,
                        code_challenge=code_challenge, resource=resource,
                        expires_at=now + CODE_TTL))  # fmt: skip
    with db.unit_of_work(actor) as uow:
        audit.append(uow, action="oauth_consent", outcome="ok", target_type="oauth_client",
                     detail=f"{client.name} ({client.kind}, {urlsplit(redirect_uri).netloc or redirect_uri})",
                     after={"scopes": scopes, "resource": resource})  # fmt: skip
    return code


def _pkce_ok(verifier: str, challenge: str) -> bool:
    if not _VERIFIER.match(verifier):
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return secrets.compare_digest(digest, challenge)


def exchange_code(
    db: Database, *, code: str, client_id: str, redirect_uri: str, code_verifier: str, resource: str | None
) -> TokenGrant:
    """authorization_code grant. A code works once; a second try revokes what the first one issued."""
    refusal = OAuthError("invalid_grant", "this authorization code is unknown, expired or already used")
    now = db.clock.now()
    with db.system_session() as s:
        row = s.get(OAuthCode, _hash(code), with_for_update=True)
        if row is None or row.client_id != client_id:
            raise refusal
        if row.used_at is not None:
            replayed = (row.tenant_id, row.family_id)
        else:
            replayed = None
            row.used_at = now
            family = row.family_id = new_id("access_token")
        tenant_id, user_id, scopes, bound = row.tenant_id, row.user_id, list(row.scopes), row.resource
        expired, challenge, registered_redirect = row.expires_at <= now, row.code_challenge, row.redirect_uri
    if replayed is not None:
        if replayed[1]:
            revoke_family(db, Actor(tenant_id=replayed[0], channel="system"), replayed[1], reason="code replayed")
        raise refusal
    if expired:
        raise refusal
    if redirect_uri != registered_redirect:
        raise OAuthError("invalid_grant", "redirect_uri is not the one this code was issued for")
    if not _pkce_ok(code_verifier, challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge (PKCE S256)")
    if resource is not None and resource.rstrip("/") != bound:
        raise OAuthError("invalid_target", f"this code was issued for {bound}, not {resource}")
    _touch_client(db, client_id, now)
    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="system", user_id=user_id)) as uow:
        return _issue(uow, user_id=user_id, client_id=client_id, scopes=scopes, resource=bound, family=family)


def _touch_client(db: Database, client_id: str, now: datetime) -> None:
    with db.system_session() as s:
        client = s.get(OAuthClient, client_id)
        if client is not None:
            client.last_used_at = now


def _issue(
    uow: UnitOfWork, *, user_id: str, client_id: str, scopes: list[str], resource: str, family: str
) -> TokenGrant:
    user = uow.session.scalar(select(User).where(User.id == user_id))
    if user is None or user.status != "active":
        raise OAuthError("invalid_grant", "the person who consented is no longer active in this workspace")
    allowed = [s for s in scopes if s in ROLE_SCOPES.get(user.role, frozenset())]
    if not allowed:
        raise OAuthError("invalid_grant", "the person's role no longer allows any of these scopes")
    with uow.db.system_session(write=False) as s:
        client = s.get(OAuthClient, client_id)
    name = (client.name if client else "OAuth client")[:120]
    now = uow.now()
    secrets_ = {}
    for kind, ttl in (("access", ACCESS_TTL), ("refresh", REFRESH_TTL)):
        secret = f"hm_{uow.tenant_id}_{secrets.token_urlsafe(24)}"
        secrets_[kind] = secret
        uow.session.add(AccessToken(id=new_id("access_token"), user_id=user.id, name=name, scopes=allowed,
                                    secret_hash=_hash(secret), prefix=secret[: len("hm_") + len(uow.tenant_id) + 5],
                                    expires_at=now + ttl, kind=kind, client_id=client_id, resource=resource,
                                    family_id=family))  # fmt: skip
    return TokenGrant(secrets_["access"], secrets_["refresh"], int(ACCESS_TTL.total_seconds()), allowed)


_SECRET = re.compile(r"^hm_(tn_[0-9A-Z]{20})_([A-Za-z0-9_-]{20,64})$")


def refresh(db: Database, *, refresh_token: str, client_id: str, resource: str | None, scope: str | None) -> TokenGrant:
    """refresh_token grant with rotation: the presented token is spent; a spent one presented again revokes the
    family (someone else holds a copy)."""
    refusal = OAuthError("invalid_grant", "this refresh token is unknown, expired or revoked; sign in again")
    match = _SECRET.match(refresh_token.strip())
    if match is None:
        raise refusal
    system = Actor(tenant_id=match.group(1), channel="system")
    with db.unit_of_work(system) as uow:
        row = uow.session.scalar(
            select(AccessToken).where(AccessToken.secret_hash == _hash(refresh_token.strip())).with_for_update()
        )
        if row is None or row.kind != "refresh" or row.client_id != client_id or row.family_id is None:
            raise refusal
        family, reused = row.family_id, row.revoked_at is not None
        if not reused:
            if row.expires_at is not None and row.expires_at <= uow.now():
                raise refusal
            bound = row.resource or ""
            if resource is not None and resource.rstrip("/") != bound:
                raise OAuthError("invalid_target", f"this refresh token was issued for {bound}, not {resource}")
            wanted = split_scopes(scope) if scope else list(row.scopes)
            if not set(wanted) <= set(row.scopes):
                raise OAuthError("invalid_scope", "a refresh cannot widen the scopes the person consented to")
            row.revoked_at = uow.now()
            actor = Actor(tenant_id=system.tenant_id, channel="system", user_id=row.user_id)
            user_id = row.user_id
    if reused:
        revoke_family(db, system, family, reason="refresh token reused")
        raise refusal
    _touch_client(db, client_id, db.clock.now())
    with db.unit_of_work(actor) as uow:
        return _issue(uow, user_id=user_id, client_id=client_id, scopes=wanted, resource=bound, family=family)


def revoke_family(db: Database, actor: Actor, family_id: str, *, reason: str) -> int:
    """Revoke every token of one consent (a connected app) at once; audited. Returns how many were live."""
    with db.unit_of_work(actor) as uow:
        rows = uow.session.scalars(select(AccessToken).where(AccessToken.family_id == family_id)).all()
        live = [r for r in rows if r.revoked_at is None]
        for row in live:
            row.revoked_at = uow.now()
        if rows:
            audit.append(uow, action="oauth_revoke", outcome="ok", target_type="access_token", target_id=family_id,
                         detail=f"{rows[0].name}: {reason}")  # fmt: skip
    return len(live)  # no cache to clear: every call reads its token


def revoke_secret(db: Database, secret: str) -> None:
    """RFC 7009: revoking either token of a family ends the connected app. Unknown tokens are not an error."""
    match = _SECRET.match(secret.strip())
    if match is None:
        return
    system = Actor(tenant_id=match.group(1), channel="system")
    with db.unit_of_work(system, write=False) as uow:
        row = uow.session.scalar(select(AccessToken).where(AccessToken.secret_hash == _hash(secret.strip())))
        family = row.family_id if row is not None else None
    if family:
        revoke_family(db, system, family, reason="revoked by the client")


def already_allowed(uow: UnitOfWork, *, user_id: str, client_id: str, resource: str, scopes: list[str]) -> bool:
    """Whether this person has a live consent for this client and resource covering `scopes`: a reconnecting client
    (new session, lost tokens) then gets its code without asking again."""
    rows = uow.session.scalars(
        select(AccessToken).where(
            AccessToken.user_id == user_id,
            AccessToken.client_id == client_id,
            AccessToken.resource == resource,
            AccessToken.kind == "refresh",
            AccessToken.revoked_at.is_(None),
        )
    ).all()
    now = uow.now()
    return any(r.expires_at is not None and r.expires_at > now and set(scopes) <= set(r.scopes) for r in rows)


# --- connected apps -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectedApp:
    family_id: str
    client: str
    client_id: str
    user_id: str
    user_name: str
    scopes: list[str]
    connected_at: datetime
    last_used_at: datetime | None


def connected_apps(uow: UnitOfWork, *, user_id: str | None = None) -> list[ConnectedApp]:
    """Live consents of the workspace (or of one person): a family with a refresh token not yet spent or expired."""
    query = select(AccessToken).where(AccessToken.family_id.is_not(None)).order_by(AccessToken.created_at)
    if user_id is not None:
        query = query.where(AccessToken.user_id == user_id)
    families: dict[str, list[AccessToken]] = defaultdict(list)
    for row in uow.session.scalars(query):
        families[str(row.family_id)].append(row)
    names = {u.id: u.name for u in uow.session.scalars(select(User))}
    now = uow.now()
    apps = []
    for family, rows in families.items():
        live = [r for r in rows if r.revoked_at is None and (r.expires_at is None or r.expires_at > now)]
        if not any(r.kind == "refresh" for r in live):
            continue
        used = [r.last_used_at for r in rows if r.last_used_at is not None]
        first = rows[0]
        apps.append(ConnectedApp(family_id=family, client=first.name, client_id=first.client_id or "",
                                 user_id=first.user_id, user_name=names.get(first.user_id, first.user_id),
                                 scopes=list(rows[-1].scopes), connected_at=first.created_at,
                                 last_used_at=max(used) if used else None))  # fmt: skip
    return apps
