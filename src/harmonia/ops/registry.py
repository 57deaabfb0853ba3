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
from typing import Any, Protocol

import orjson
from pydantic import BaseModel, ValidationError

from ..db import Actor, Database, OverBudget, UnitOfWork, is_on_the_loop
from ..errors import Forbidden, HarmoniaError, InvalidArguments, NotFound, ScopeDenied
from ..ids import ID_PATTERN
from ..models.tenancy import Scope
from ..services import audit

__all__ = ["CORE", "OpContext", "Operation", "Registry", "Runtime", "Scope", "UnknownToolset"]

log = logging.getLogger("harmonia.ops")


SCOPE_ORDER = tuple(Scope)
CORE = "core"  # the 37 tools of SPEC §3: the default catalogue everywhere


class UnknownToolset(InvalidArguments):
    pass


class Runtime(Protocol):
    """What `invoke()` needs from the composition root (`harmonia.bootstrap.Harmonia`)."""

    @property
    def db(self) -> Database: ...

    @property
    def reads(self) -> audit.ReadAudits: ...


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

    def toolsets(self) -> list[str]:
        """Every toolset an operation declares, `core` first."""
        names = {op.toolset for op in self._ops.values() if op.mcp}
        return [CORE, *sorted(names - {CORE})]

    def choose_toolsets(
        self, requested: str | Iterable[str] | None, tenant_toolsets: Callable[[], Iterable[str]] | None = None
    ) -> frozenset[str]:
        """`core,automation` / ["core"] / "all" / None (→ core) as a set of toolsets; an unknown name is refused.
        `tenant_toolsets()` gives the caller's workspace's own toolsets (its HTTP tools, its upstreams): asked only
        when a name is not one of the registry's, or for `all`, so another workspace's names stay unknown."""
        if requested is None:
            return frozenset({CORE})
        names = [n.strip() for n in (requested.split(",") if isinstance(requested, str) else requested) if n.strip()]
        known = self.toolsets()
        if not names:
            return frozenset({CORE})
        if tenant_toolsets is not None and ("all" in names or any(n not in known for n in names)):
            known = [*known, *(n for n in tenant_toolsets() if n not in known)]
        if "all" in names:
            return frozenset(known)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UnknownToolset(f"unknown toolset {', '.join(map(repr, unknown))}; toolsets are: "
                                 f"{', '.join(known)} (or all)")  # fmt: skip
        return frozenset(names)

    def mcp_tools(self, scopes: Iterable[str] | None = None, toolsets: Iterable[str] = (CORE,)) -> list[Operation]:
        """The MCP catalogue, in a fixed order (toolset, scope, then declaration), narrowed to `scopes` when given
        and to `toolsets` (default: core). Scopes filter inside every toolset."""
        allowed = set(scopes) if scopes is not None else {s.value for s in Scope}
        chosen = set(toolsets)
        order = {name: i for i, name in enumerate(self.toolsets())}
        tools = [op for op in self._ops.values() if op.mcp and op.scope.value in allowed and op.toolset in chosen]
        return sorted(tools, key=lambda op: (order[op.toolset], SCOPE_ORDER.index(op.scope)))

    def invoke(
        self, rt: Runtime, actor: Actor, name: str, arguments: Mapping[str, Any] | None, *, strict: bool = False
    ) -> BaseModel:
        """Run operation `name` for `actor`. Raises a `HarmoniaError`; never anything else.

        `strict`: the arguments came as a JSON document (a REST body), so types must match exactly — "5" is not a
        number there and 0 is not false. MCP stays lenient on purpose: models send "5" and a clear answer beats a
        refusal."""
        db = rt.db
        op = self._ops.get(name)
        raw = dict(arguments or {})
        digest = _digest(raw)
        if op is None:
            raise NotFound(f"unknown operation {name!r}")
        # Declared authorization, checked before anything is read: the actor's scopes are already the token's
        # scopes intersected with what the person's *current* role allows (services.tenancy.authenticate).
        refusal = self.refusal(op, actor)
        if refusal is not None:
            self._audit_alone(db, actor, op.name, refusal.outcome, digest, detail=refusal.details.get("why"))
            raise refusal
        try:
            args = (
                op.input.model_validate_json(json.dumps(raw), strict=True) if strict else op.input.model_validate(raw)
            )
        except ValidationError as exc:
            error = InvalidArguments(_explain(op, exc), fields=_fields(exc), errors=_structured(exc))
            self._audit_alone(db, actor, op.name, "error", digest, detail="invalid arguments")
            raise error from None

        ctx: OpContext | None = None
        if op.reads_audit:
            rt.reads.flush()
        try:
            with db.unit_of_work(actor, write=not op.read_only) as uow:
                ctx = OpContext(uow=uow, registry=self)
                if op.policy is not None:
                    op.policy(ctx, args)  # raises Forbidden (audited as denied below)
                result = op.handler(ctx, args)
                outcome = ctx.refusal.outcome if ctx.refusal else "ok"
                if not op.read_only:
                    audit.append(uow, action=op.name, outcome=outcome, args_digest=digest, **_audit_fields(ctx))
        except HarmoniaError as error:
            self._audit_alone(db, actor, op.name, error.outcome, digest, detail=error.code, ctx=ctx)
            raise
        except OverBudget:
            raise  # tried on the event loop: the caller runs it again on a worker thread (nothing was written)
        except Exception as exc:
            request_id = actor.request_id or uuid.uuid4().hex[:12]
            log.exception("operation %s failed (request %s)", op.name, request_id)
            self._audit_alone(db, actor, op.name, "error", digest, detail=type(exc).__name__, ctx=ctx)
            raise HarmoniaError(
                f"'{op.name}' failed unexpectedly; nothing was changed. Quote request id {request_id} to support."
            ) from None
        if op.read_only and op.audit_reads:
            rt.reads.add(actor, op.name, digest, ctx.target or _read_target(op, args))
        if ctx.refusal is not None:
            raise ctx.refusal
        return result if isinstance(result, op.output) else op.output.model_validate(result)

    @staticmethod
    def refusal(op: Operation, actor: Actor) -> HarmoniaError | None:
        """Why `actor` may not run `op` at all (scope, then role), or None. Policies that depend on the arguments or
        the record run later, inside the unit of work."""
        if op.scope.value not in actor.scopes:
            return ScopeDenied(op.name, op.scope.value)
        if op.roles is not None and actor.role not in op.roles:
            roles = " or ".join(sorted(op.roles))
            return Forbidden(f"'{op.name}' needs the {roles} role; you are {actor.role or 'not a person'}",
                             why=f"role {actor.role}")  # fmt: skip
        return None

    def deny(self, db: Database, actor: Actor, name: str) -> HarmoniaError:
        """Record a call refused before it reached `invoke` (the HTTP step-up 403) and return the error."""
        op = self._ops[name]
        denied = self.refusal(op, actor) or ScopeDenied(op.name, op.scope.value)
        self._audit_alone(db, actor, op.name, denied.outcome, "", detail=denied.details.get("why"))
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
        if is_on_the_loop():  # a refusal is written, so never on the event loop: the caller retries on a thread
            raise OverBudget(OverBudget.WRITES)
        fields = _audit_fields(ctx) if ctx else {}
        if detail:
            fields["detail"] = detail
        audit.append_alone(db, actor, action=action, outcome=outcome, args_digest=digest, **fields)


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


# pydantic's error types, as the kinds a form or a script can act on without reading English
_KINDS = {
    "missing": "required", "extra_forbidden": "unknown", "string_too_short": "too_short",
    "string_too_long": "too_long", "too_short": "too_few", "too_long": "too_many",
    "string_pattern_mismatch": "format", "greater_than_equal": "too_small", "greater_than": "too_small",
    "less_than_equal": "too_large", "less_than": "too_large", "literal_error": "choice", "enum": "choice",
    "value_error": "invalid", "assertion_error": "invalid",
}  # fmt: skip
_LIMITS = ("min_length", "max_length", "ge", "gt", "le", "lt")


def _structured(exc: ValidationError) -> list[dict[str, Any]]:
    """Each problem as `{field, type, limit?, expected?, message}`: what the web UI words for a person and a script
    branches on, instead of parsing pydantic's English. `type` is one of required, unknown, too_short, too_long (text),
    too_few, too_many (lists), format, too_small, too_large, choice, invalid, or `type` (a value of the wrong
    type)."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        ctx = err.get("ctx") or {}
        item: dict[str, Any] = {
            "field": ".".join(str(p) for p in err["loc"]) or "(arguments)",
            "type": _KINDS.get(err["type"], "type"),
            "message": str(ctx.get("error") or err["msg"]) if err["type"] == "value_error" else err["msg"],
        }
        for key in _LIMITS:
            if key in ctx and isinstance(ctx[key], int | float):
                item["limit"] = ctx[key]
                break
        if "expected" in ctx:
            item["expected"] = str(ctx["expected"])
        out.append(item)
    return out


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
