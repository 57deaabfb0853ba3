"""The MCP server: a low-level `mcp.server.Server` whose tools and prompts *are* the registry's operations.

`tools/list` shows the caller only the tools its token's scopes allow (and, on a narrowed endpoint such as
`/mcp/readonly`, only read-only tools), in the registry's fixed order. `tools/call` runs `registry().invoke()` on a
small dedicated thread pool (database work never blocks the event loop) and answers `structuredContent` plus an
equivalent compact JSON text block; a `HarmoniaError` becomes an `isError` result with the message as text and the
error object as `structuredContent.error`.

Who is calling: over HTTP the bearer middleware (mcp_http) puts an `Actor` on the request scope; over stdio the
actor comes from `HARMONIA_TOKEN` once, at start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import mcp.types as types
import orjson
from mcp.server import Server, ServerRequestContext
from mcp.server.caching import CacheHint

from .. import __version__
from ..db import Actor, Database
from ..errors import HarmoniaError, NotFound
from ..ops import registry
from ..ops.calls import record_call, record_read
from ..ops.prompts import PROMPTS, PromptSpec
from ..ops.prompts import render as render_prompt
from ..ops.registry import Operation
from ..ops.schema import input_schema, output_schema
from ..untrusted import DATA_NOT_INSTRUCTIONS

__all__ = ["ACTOR_SCOPE_KEY", "build_server", "tool_definition"]

log = logging.getLogger("harmonia.mcp")
ACTOR_SCOPE_KEY = "harmonia.actor"
INSTRUCTIONS = (
    "Harmonia is the team's CRM (merchant-cash-advance brokerage). Read with search/*_list/*_get; ids are "
    "opaque (ct_ contact, op_ deal, ac_ account…). Errors say what exists and what to do next. Sends obey the "
    "workspace's outbound switch and consent rules; draft with email_draft when asked to prepare, never send unasked. "
    + DATA_NOT_INSTRUCTIONS
)

_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="harmonia-db")


@cache
def tool_definition(name: str) -> types.Tool:
    op = registry().get(name)
    assert op is not None
    return _tool(op)


def _tool(op: Operation) -> types.Tool:
    return types.Tool(
        name=op.name,
        title=op.title,
        description=op.description,
        input_schema=input_schema(op.input),
        output_schema=output_schema(op.output),
        annotations=_annotations(op),
    )


def _annotations(op: Operation) -> types.ToolAnnotations:
    """Every hint tells the truth, and a hint is left out only where the spec's default says the same thing: every
    client pays for `tools/list` in context. The two hints whose default is `true` (destructiveHint, openWorldHint)
    are always written, so no client falls back to "destructive" or "open world"; readOnlyHint and idempotentHint
    default to `false` and are written when true. destructiveHint and idempotentHint mean something only when
    readOnlyHint is false (the spec), so read-only tools carry neither."""
    return types.ToolAnnotations(
        read_only_hint=op.read_only or None,
        destructive_hint=None if op.read_only else op.destructive,
        idempotent_hint=None if op.read_only else (op.idempotent or None),
        open_world_hint=op.open_world,
    )


def _json(data: Any) -> str:
    return orjson.dumps(data).decode()


def _client_name(ctx: ServerRequestContext[Any]) -> str | None:
    try:
        params = ctx.session.client_params
        if params is not None and params.client_info is not None:
            return str(params.client_info.name)[:80]
    except Exception:
        pass
    meta: dict[str, Any] = dict(ctx.meta or {})
    info = meta.get("io.modelcontextprotocol/clientInfo") or {}
    return str(info["name"])[:80] if isinstance(info, dict) and info.get("name") else None


def build_server(
    db: Database,
    *,
    actor: Actor | None = None,
    read_only: bool = False,
    actor_of: Callable[[ServerRequestContext[Any]], Actor | None] | None = None,
) -> Server[Any]:
    """The MCP server over `db`. `actor` is fixed (stdio); otherwise `actor_of(ctx)` finds it (HTTP)."""

    def who(ctx: ServerRequestContext[Any]) -> Actor:
        found = actor_of(ctx) if actor_of else None
        if found is None:
            found = actor
        if found is None:
            request = ctx.request
            scope = getattr(request, "scope", None) or {}
            found = scope.get(ACTOR_SCOPE_KEY)
        if found is None:
            raise HarmoniaError("no authenticated caller")
        client = _client_name(ctx)
        if client and client != found.client:
            found = dataclasses.replace(found, client=f"{client} ({found.client})" if found.client else client)
        return found

    def visible(a: Actor) -> list[Operation]:
        ops = registry().mcp_tools(a.scopes)
        return [op for op in ops if op.read_only] if read_only else ops

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        a = who(ctx)
        return types.ListToolsResult(tools=[tool_definition(op.name) for op in visible(a)])

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        a = who(ctx)
        name = params.name
        op = registry().get(name)
        loop = asyncio.get_running_loop()
        if op is None or not op.mcp or (read_only and not op.read_only):
            known = ", ".join(o.name for o in visible(a))
            refusal = NotFound(f"unknown tool {name[:80]!r}; tools available here: {known}")
            # Audited like any refused call: a write tool asked of a read-only endpoint is a denial worth seeing.
            action, outcome = (op.name, "denied") if op is not None and op.mcp else ("tools/call", "error")
            detail = "read-only endpoint" if outcome == "denied" else f"unknown tool {name[:60]!r}"
            await loop.run_in_executor(_EXECUTOR, lambda: record_call(db, a, action, outcome, detail=detail))
            return _error(refusal)
        try:
            result = await loop.run_in_executor(_EXECUTOR, registry().invoke, db, a, name, dict(params.arguments or {}))
            data = result.model_dump(mode="json", exclude_none=True)
        except HarmoniaError as error:
            return _error(error)
        except Exception:  # invoke never raises anything else; this is the last line before a -32603
            request_id = a.request_id or uuid.uuid4().hex[:12]
            log.exception("tool %s failed outside the registry (request %s)", name, request_id)
            return _error(HarmoniaError(f"'{name}' failed unexpectedly. Quote request id {request_id} to support."))
        return types.CallToolResult(content=[types.TextContent(type="text", text=_json(data))], structured_content=data)

    async def list_prompts(ctx: ServerRequestContext[Any], params: Any) -> types.ListPromptsResult:
        a = who(ctx)
        if "mcp:read" not in a.scopes:
            return types.ListPromptsResult(prompts=[])
        return types.ListPromptsResult(prompts=[_prompt(p) for p in PROMPTS.values()])

    async def get_prompt(ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> types.GetPromptResult:
        a = who(ctx)
        loop = asyncio.get_running_loop()
        try:
            description, text = await loop.run_in_executor(
                _EXECUTOR, render_prompt, db, a, params.name, dict(params.arguments or {})
            )
        except HarmoniaError as error:
            from mcp.shared.exceptions import MCPError

            code = types.INTERNAL_ERROR if error.http_status >= 500 else types.INVALID_PARAMS
            raise MCPError(code=code, message=error.message) from None
        return types.GetPromptResult(
            description=description,
            messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))],
        )

    outbound = types.Resource(
        uri="harmonia://workspace/outbound",
        name="outbound",
        title="Outbound switch",
        description="Whether this workspace may send email, SMS and calls right now, and who changed it, when, why.",
        mime_type="application/json",
    )

    async def list_resources(ctx: ServerRequestContext[Any], params: Any) -> types.ListResourcesResult:
        who(ctx)
        return types.ListResourcesResult(resources=[outbound])

    async def list_templates(ctx: ServerRequestContext[Any], params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        a = who(ctx)
        loop = asyncio.get_running_loop()
        if str(params.uri) != outbound.uri:
            from mcp.shared.exceptions import MCPError

            detail = f"unknown resource {str(params.uri)[:80]!r}"
            await loop.run_in_executor(_EXECUTOR, lambda: record_call(db, a, "resources/read", "error", detail=detail))
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"unknown resource {str(params.uri)[:200]}; resources: {outbound.uri}",
            )
        state = await loop.run_in_executor(_EXECUTOR, _outbound_state, db, a)
        record_read(db, a, "resources/read", ("resource", "outbound"))
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=outbound.uri, mime_type="application/json", text=_json(state))]
        )

    return Server(
        "harmonia",
        version=__version__,
        title="Harmonia CRM",
        instructions=INSTRUCTIONS,
        cache_hints={
            "tools/list": CacheHint(ttl_ms=60_000, scope="private"),
            "prompts/list": CacheHint(ttl_ms=60_000, scope="private"),
            "resources/list": CacheHint(ttl_ms=60_000, scope="private"),
            "resources/templates/list": CacheHint(ttl_ms=60_000, scope="private"),
            "resources/read": CacheHint(ttl_ms=0, scope="private"),
        },
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def _outbound_state(db: Database, actor: Actor) -> dict[str, Any]:
    from ..models import Tenant

    with db.unit_of_work(actor, write=False) as uow:
        t = uow.session.get(Tenant, actor.tenant_id)
        assert t is not None
        return {k: v for k, v in {
            "outbound_enabled": t.outbound_enabled,
            "changed_at": t.outbound_changed_at.isoformat() if t.outbound_changed_at else None,
            "changed_by": t.outbound_changed_by, "reason": t.outbound_reason,
            "turn_on": "an owner, in Settings → Comms → Outbound or `harmonia outbound on` at the server",
        }.items() if v is not None}  # fmt: skip


def _prompt(p: PromptSpec) -> types.Prompt:
    return types.Prompt(
        name=p.name,
        title=p.title,
        description=p.description,
        arguments=[
            types.PromptArgument(name=a.name, description=a.description, required=a.required) for a in p.arguments
        ],
    )


def _error(error: HarmoniaError) -> types.CallToolResult:
    return types.CallToolResult(
        is_error=True,
        content=[types.TextContent(type="text", text=error.message)],
        structured_content={"error": error.to_dict()},
    )
