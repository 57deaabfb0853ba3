"""Declared authorization, proven over the whole registry (NetBox-style): every operation × every role × a token that
holds every scope or every scope but one. A call is allowed exactly when the operation's scope is in the token's
scopes ∩ the role's, and its declared roles (if any) include the role; every refusal names what is missing and is
audited as denied. 0 unexpected allows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from harmonia.db import Actor
from harmonia.errors import Forbidden, HarmoniaError, ScopeDenied
from harmonia.models import SCOPES, AuditEvent
from harmonia.services.tenancy import ROLE_SCOPES

from ..conftest import Workspace

ROLES = ("owner", "admin", "member")
TOKENS = [frozenset(SCOPES), *(frozenset(SCOPES) - {s} for s in SCOPES)]


def _denied_count(ws: Workspace) -> int:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        return int(
            uow.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "denied")) or 0
        )


def test_every_operation_every_role_and_every_missing_scope_is_refused_or_allowed_exactly_as_declared(
    acme: Workspace, report_figure: Any
) -> None:
    tried = refused = allowed = 0
    unexpected: list[str] = []
    for op in acme.h.registry:
        for role in ROLES:
            for token in TOKENS:
                effective = token & ROLE_SCOPES[role]
                actor = Actor(tenant_id=acme.id, channel="api", user_id=acme.owner.id, role=role, scopes=effective,
                              client="matrix")  # fmt: skip
                should_refuse = op.scope.value not in effective or (op.roles is not None and role not in op.roles)
                before = _denied_count(acme) if should_refuse else 0
                tried += 1
                try:
                    acme.h.invoke(actor, op.name, {})
                    outcome: HarmoniaError | None = None
                except HarmoniaError as error:
                    outcome = error
                if should_refuse:
                    refused += 1
                    if not isinstance(outcome, ScopeDenied | Forbidden):
                        unexpected.append(f"{op.name} as {role} with {sorted(effective)}: not refused ({outcome!r})")
                        continue
                    if isinstance(outcome, ScopeDenied) and op.scope.value not in outcome.message:
                        unexpected.append(f"{op.name}: refusal does not name {op.scope.value}")
                    if _denied_count(acme) != before + 1:
                        unexpected.append(f"{op.name} as {role}: refusal not audited exactly once")
                else:
                    allowed += 1
                    role_refusal = isinstance(outcome, Forbidden) and str(outcome.details.get("why", "")).startswith(
                        "role"
                    )
                    if isinstance(outcome, ScopeDenied) or role_refusal:
                        unexpected.append(f"{op.name} as {role} with {sorted(effective)}: refused ({outcome!r})")
    report_figure(
        f"authorization matrix on {acme.db.dialect}: {tried} combinations ({len(list(acme.h.registry))} operations × "
        f"{len(ROLES)} roles × {len(TOKENS)} token scope sets), {refused} refused and audited, {allowed} allowed, "
        f"{len(unexpected)} unexpected"
    )
    assert unexpected == []
