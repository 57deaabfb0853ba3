"""Who may run an operation beyond its scope and roles: the rules that depend on the record or the arguments.

Each policy is declared on its `Operation` (`policy=…`) and run by `invoke()` inside the unit of work, before the
handler; a refusal is a `Forbidden`, audited as denied. Handlers never check roles themselves: the rules live here,
once, where the authorization contract test and a reviewer can see them all.
"""

from __future__ import annotations

from typing import Any

from ..errors import Forbidden
from ..models import Note, Task, User
from ..services.records import get_or_404
from ..services.tenancy import ROLE_RANK, require_outbound_authority
from .registry import OpContext

__all__ = [
    "MANAGERS",
    "author_or_manager",
    "outbound_on_needs_an_owner_at_the_server",
    "settings_never_turn_outbound_on",
    "token_scopes_within_your_own",
    "users_change_within_your_role",
]

MANAGERS = frozenset({"owner", "admin"})


def outbound_on_needs_an_owner_at_the_server(ctx: OpContext, args: Any) -> None:
    """Turning outbound on: an owner, in the web UI or at the server's command line (SPEC §5). Off: anyone with the
    scope."""
    if args.enabled:
        require_outbound_authority(ctx.actor)


def settings_never_turn_outbound_on(ctx: OpContext, args: Any) -> None:
    if args.outbound_enabled:
        raise Forbidden("outbound can only be turned on by a workspace owner in the web UI (Settings → Comms → "
                        "Outbound) or with `harmonia outbound on` at the server; this call changed nothing")  # fmt: skip


def users_change_within_your_role(ctx: OpContext, args: Any) -> None:
    """Only an owner makes or changes an owner; no one raises their own role."""
    actor = ctx.actor
    target = get_or_404(ctx.uow, User, args.user_id, "user")
    if actor.role != "owner" and (args.role == "owner" or target.role == "owner"):
        raise Forbidden("only an owner can make someone an owner or change an owner")
    if target.id == actor.user_id and args.role and ROLE_RANK[args.role] > ROLE_RANK.get(actor.role or "", -1):
        raise Forbidden("no one raises their own role; ask an owner")


def token_scopes_within_your_own(ctx: OpContext, args: Any) -> None:
    """A token belongs to a person and never carries a scope its creator does not hold right now."""
    if not ctx.actor.user_id:
        raise Forbidden("tokens belong to a person; sign in (or use a person's token) to create one")
    beyond = sorted(set(args.scopes) - set(ctx.actor.scopes))
    if beyond:
        raise Forbidden(f"you cannot give a token scopes you do not hold yourself: {', '.join(beyond)}")


def author_or_manager(kind: str) -> Any:
    """Deleting a note or a task: its author, or an owner or admin."""
    model: Any = {"note": Note, "task": Task}[kind]

    def policy(ctx: OpContext, args: Any) -> None:
        row = get_or_404(ctx.uow, model, getattr(args, f"{kind}_id"), kind)
        author = (getattr(row, "author_id", None) or row.created_by) if kind == "note" else row.created_by
        if author != ctx.actor.user_id and ctx.actor.role not in MANAGERS:
            raise Forbidden(f"only its author or an owner or admin can delete this {kind}")

    policy.__name__ = f"{kind}_author_or_manager"
    return policy
