"""Access tokens, for the web UI and the REST API (mcp=False: an AI client never mints or revokes its own keys).

A person manages their own tokens; owners and admins see and revoke everyone's. A new token can never carry a scope
its creator does not hold, so a `mcp:write` token cannot mint an `mcp:admin` one.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ..errors import NotFound
from ..models import AccessToken
from ..services import admin as svc
from ..services import tenancy
from ..services.records import get_or_404
from .common import Instant, Page, PageArgs, RecordId, ScopeName
from .policies import MANAGERS, token_scopes_within_your_own
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS"]

_MANAGERS = MANAGERS


class TokenOut(OutputModel):
    id: str
    name: str
    user_id: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    created_via: str | None = None
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


def token_out(t: AccessToken) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, user_id=t.user_id, scopes=list(t.scopes), prefix=t.prefix,
                    created_at=t.created_at, created_via=t.created_via, last_used_at=t.last_used_at,
                    expires_at=t.expires_at, revoked_at=t.revoked_at)  # fmt: skip


class IssuedTokenOut(TokenOut):
    secret: str = Field(description="shown once, never stored; keep it somewhere safe")


class TokensList(PageArgs):
    user_id: RecordId | None = Field(None, description="owners and admins: someone else's tokens")
    include_revoked: bool = False


def tokens_list(ctx: OpContext, args: TokensList) -> Page[TokenOut]:
    user_id = args.user_id if ctx.actor.role in _MANAGERS else ctx.actor.user_id
    rows, cursor = svc.list_tokens(ctx.uow, user_id=user_id, include_revoked=args.include_revoked, limit=args.limit,
                                   cursor=args.cursor)  # fmt: skip
    return Page[TokenOut](items=[token_out(t) for t in rows], next_cursor=cursor)


class TokensCreate(InputModel):
    name: str = Field(min_length=1, max_length=120, description="which client or script uses it, e.g. 'Claude Desktop'")
    scopes: list[ScopeName] = Field(min_length=1, max_length=4)
    expires_at: Instant | None = None


def tokens_create(ctx: OpContext, args: TokensCreate) -> IssuedTokenOut:
    assert ctx.actor.user_id  # the policy refuses a caller who is not a person
    issued = svc.issue_token(ctx.uow, user_id=ctx.actor.user_id, scopes=list(args.scopes), name=args.name,
                             expires_at=args.expires_at)  # fmt: skip
    ctx.audit_target("access_token", issued.token.id, after={"name": issued.token.name, "scopes": issued.token.scopes})
    return IssuedTokenOut(**token_out(issued.token).model_dump(), secret=issued.secret)


class TokensRevoke(InputModel):
    token_id: RecordId


def tokens_revoke(ctx: OpContext, args: TokensRevoke) -> TokenOut:
    token = get_or_404(ctx.uow, AccessToken, args.token_id, "access_token", field="token_id")
    if token.user_id != ctx.actor.user_id and ctx.actor.role not in _MANAGERS:
        # Someone else's token is, to a member, a token that does not exist.
        raise NotFound(f"no access token with id {args.token_id!r}; tokens_list shows yours", field="token_id")
    before = {"revoked_at": token.revoked_at}
    tenancy.revoke_token(ctx.uow, token.id)
    owner = svc.user_email(ctx.uow, token.user_id)
    ctx.audit_target("access_token", token.id, before=before, after={"revoked_at": token.revoked_at})
    ctx.detail = f"{token.name} of {owner}"
    return token_out(token)


OPERATIONS = [
    Operation(
        name="tokens_list",
        title="List access tokens",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        mcp=False,
        description="Your access tokens (owners and admins: anyone's) with scopes, prefix and last use; never secrets.",
        input=TokensList,
        output=Page[TokenOut],
        handler=tokens_list,
        rest=("GET", "/tokens"),
    ),
    Operation(
        name="tokens_create",
        title="Create an access token",
        scope=Scope.WRITE,
        read_only=False,
        mcp=False,
        description="A new token for yourself with chosen scopes (at most your own). The secret is in this answer "
        "only; Harmonia keeps its hash.",
        input=TokensCreate,
        output=IssuedTokenOut,
        handler=tokens_create,
        policy=token_scopes_within_your_own,
        rest=("POST", "/tokens"),
    ),
    Operation(
        name="tokens_revoke",
        title="Revoke an access token",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        destructive=True,
        mcp=False,
        description="Revoke a token at once (yours; owners and admins: anyone's). Calls with it fail from now on.",
        input=TokensRevoke,
        output=TokenOut,
        handler=tokens_revoke,
        rest=("DELETE", "/tokens/{token_id}"),
    ),
]
