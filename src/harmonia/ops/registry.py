"""The operations registry: every operation is declared once, and `invoke()` is the one gate every surface uses.

Declaring an `Operation` gives, for free: argument validation with agent-readable errors, the scope check (denials
audited), the unit of work (read or write), the audit row (same transaction for writes), error typing, and a place
in the MCP catalogue / REST routes / docs. MCP, REST, CLI, UI and workflows never call services directly for an
operation that exists here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from ..db import Actor, Database, UnitOfWork
from ..errors import HarmoniaError, InvalidArguments, NotFound, ScopeDenied
from ..ids import ID_PATTERN
from ..services import audit

__all__ = ["OpContext", "Operation", "Registry", "Scope"]

log = logging.getLogger("harmonia.ops")


class Scope(StrEnum):
    READ = "mcp:read"
    WRITE = "mcp:write"
    COMMS = "mcp:comms"
    ADMIN = "mcp:admin"


SCOPE_ORDER = (Scope.READ, Scope.WRITE, Scope.COMMS, Scope.ADMIN)


@dataclass(frozen=True, kw_only=True)
class Operation:
    name: str
    title: str
    description: str  # product copy for a model: what, when, what it will never do
    scope: Scope
    read_only: bool  # no default: every operation must say (github-mcp-server's lesson)
    input: type[BaseModel]
    output: type[BaseModel]
    handler: Callable[[OpContext, Any], Any]
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False
    mcp: bool = True  # part of the MCP catalogue
    rest: tuple[str, str] | None = None  # ("GET", "/contacts/{contact_id}")
    audit_reads: bool = True
    reads_audit: bool = False  # reads the audit log: queued read audits are written first
    # The MCP toolset it belongs to (SPEC §8): the 37 of SPEC §3 are `core`, the default catalogue; others are opt-in.
    toolset: str = "core"
    # Who may run it beyond the scope: the roles allowed (None: any role whose scopes include `scope`), and a policy
    # `(ctx, args) -> None` that raises `Forbidden` for rules that depend on the record or the arguments.
    roles: frozenset[str] | None = None
    policy: Callable[[OpContext, Any], None] | None = None


@dataclass
class OpContext:
    """What a handler gets: the unit of work (session, actor) and hooks for audit detail."""

    uow: UnitOfWork
    registry: Registry
    target: tuple[str, str] | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: str | None = None
    refusal: HarmoniaError | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def session(self) -> Any:
        return self.uow.session

    @property
    def actor(self) -> Actor:
        return self.uow.actor

    @property
    def tenant_id(self) -> str:
        return self.uow.tenant_id

    @property
    def db(self) -> Database:
        return self.uow.db

    def audit_target(
        self, kind: str, record_id: str, *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None
    ) -> None:
        self.target = (kind, record_id)
        if before is not None:
            self.before = before
        if after is not None:
            self.after = after

    def refuse(self, error: HarmoniaError) -> None:
        """Commit what was written (e.g. a blocked message, kept in its thread) and then fail with `error`."""
        self.refusal = error


class Registry:
    def __init__(self, operations: Iterable[Operation]) -> None:
        self._ops: dict[str, Operation] = {}
        for op in operations:
            if op.name in self._ops:
                raise ValueError(f"operation {op.name!r} declared twice")
            self._ops[op.name] = op

    def __iter__(self) -> Any:
        return iter(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)

    def get(self, name: str) -> Operation | None:
        return self._ops.get(name)

    def mcp_tools(self, scopes: Iterable[str] | None = None, toolsets: Iterable[str] = ("core",)) -> list[Operation]:
        """The MCP catalogue, in a fixed order (scope, then declaration), narrowed to `scopes` when given and to
        `toolsets` (SPEC §8: `core` by default, `all` for every toolset)."""
        allowed = set(scopes) if scopes is not None else {s.value for s in Scope}
        sets = set(toolsets)
        tools = [op for op in self._ops.values()
                 if op.mcp and op.scope.value in allowed and ("all" in sets or op.toolset in sets)]  # fmt: skip
        return sorted(tools, key=lambda op: SCOPE_ORDER.index(op.scope))

    def invoke(
        self, db: Database, actor: Actor, name: str, arguments: Mapping[str, Any] | None, *, strict: bool = False
    ) -> BaseModel:
        """Run operation `name` for `actor`. Raises a `HarmoniaError`; never anything else.

        `strict`: the arguments came as a JSON document (a REST body), so types must match exactly — "5" is not a
        number there and 0 is not false. MCP stays lenient on purpose: models send "5" and a clear answer beats a
        refusal."""
        op = self._ops.get(name)
        raw = dict(arguments or {})
        digest = _digest(raw)
        if op is None:
            raise NotFound(f"unknown operation {name!r}")
        if op.scope.value not in actor.scopes:
            denied = ScopeDenied(op.name, op.scope.value)
            self._audit_alone(db, actor, op.name, denied.outcome, digest, detail=f"missing {op.scope.value}")
            raise denied
        try:
            args = (
                op.input.model_validate_json(json.dumps(raw), strict=True) if strict else op.input.model_validate(raw)
            )
        except ValidationError as exc:
            error = InvalidArguments(_explain(op, exc), fields=_fields(exc))
            self._audit_alone(db, actor, op.name, "error", digest, detail="invalid arguments")
            raise error from None

        ctx: OpContext | None = None
        if op.reads_audit:
            audit.flush_reads(db)
        try:
            with db.unit_of_work(actor, write=not op.read_only) as uow:
                ctx = OpContext(uow=uow, registry=self)
                result = op.handler(ctx, args)
                outcome = ctx.refusal.outcome if ctx.refusal else "ok"
                if not op.read_only:
                    audit.append(uow, action=op.name, outcome=outcome, args_digest=digest, **_audit_fields(ctx))
        except HarmoniaError as error:
            self._audit_alone(db, actor, op.name, error.outcome, digest, detail=error.code, ctx=ctx)
            raise
        except Exception as exc:
            request_id = actor.request_id or uuid.uuid4().hex[:12]
            log.exception("operation %s failed (request %s)", op.name, request_id)
            self._audit_alone(db, actor, op.name, "error", digest, detail=type(exc).__name__, ctx=ctx)
            raise HarmoniaError(
                f"'{op.name}' failed unexpectedly; nothing was changed. Quote request id {request_id} to support."
            ) from None
        if op.read_only and op.audit_reads:
            audit.queue_read(db, actor, op.name, digest, ctx.target or _read_target(op, args))
        if ctx.refusal is not None:
            raise ctx.refusal
        return result if isinstance(result, op.output) else op.output.model_validate(result)

    def deny(self, db: Database, actor: Actor, name: str) -> ScopeDenied:
        """Record a call refused for scope before it reached `invoke` (the HTTP step-up 403) and return the error."""
        op = self._ops[name]
        denied = ScopeDenied(op.name, op.scope.value)
        self._audit_alone(db, actor, op.name, denied.outcome, "", detail=f"missing {op.scope.value}")
        return denied

    def _audit_alone(
        self,
        db: Database,
        actor: Actor,
        action: str,
        outcome: str,
        digest: str,
        *,
        detail: str | None = None,
        ctx: OpContext | None = None,
    ) -> None:
        fields = _audit_fields(ctx) if ctx else {}
        if detail:
            fields["detail"] = detail
        try:
            with db.unit_of_work(actor, write=True) as uow:
                audit.append(uow, action=action, outcome=outcome, args_digest=digest, **fields)
        except Exception:  # the audit must never turn a clean refusal into a crash
            log.exception("could not audit %s/%s", action, outcome)


def _read_target(op: Operation, args: BaseModel) -> tuple[str, str] | None:
    """The record a read looked at, when it names exactly one (contacts_get's contact_id…): "who viewed this
    merchant's file?" is a question the audit log must answer."""
    ids = [name for name, f in op.input.model_fields.items() if name.endswith("_id") and f.is_required()]
    if len(ids) != 1:
        return None
    value = getattr(args, ids[0])
    return (ids[0][:-3], value) if isinstance(value, str) else None


def _audit_fields(ctx: OpContext) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if ctx.target:
        fields["target_type"], fields["target_id"] = ctx.target
    if ctx.before is not None:
        fields["before"] = ctx.before
    if ctx.after is not None:
        fields["after"] = ctx.after
    if ctx.detail:
        fields["detail"] = ctx.detail
    return fields


def _digest(raw: Mapping[str, Any]) -> str:
    try:
        payload = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:
        payload = repr(sorted(raw.items())).encode()
    return hashlib.sha256(payload).hexdigest()


def _fields(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in err["loc"]) or "(arguments)" for err in exc.errors()]


def _explain(op: Operation, exc: ValidationError) -> str:
    """One line per problem, in words a model can act on; no pydantic URLs, no echoed secrets."""
    allowed = sorted(op.input.model_fields)
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown argument '{where}' (arguments are: {', '.join(allowed)})")
        elif err["type"] == "missing":
            parts.append(f"'{where}' is required")
        elif err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == ID_PATTERN:
            parts.append(f"'{where}' is not a Harmonia id (ids look like ct_01JD8X2M5Q7R9T1V3W5Y; list or search "
                         "to find the right one)")  # fmt: skip
        else:
            parts.append(f"'{where}': {err['msg']}")
    return f"Invalid arguments for {op.name}: " + "; ".join(parts)
