"""The MCP server: a low-level `mcp.server.Server` whose tools and prompts *are* the registry's operations.

`tools/list` shows the caller only the tools of the chosen toolsets (default `core`: SPEC §8) that its scopes allow
(and, on a narrowed endpoint such as `/mcp/readonly`, only read-only tools), in the registry's fixed order.
`tools/call` runs `h.invoke()`: a read first on the event loop with each statement bounded (`invoke_soon`), anything
else — and a read past its bound — on the composition root's thread pool; it answers `structuredContent` plus the
same JSON as a compact text block (`_tool_result` says why both); a `HarmoniaError` becomes an `isError` result with the message as text and the
error object as `structuredContent.error`.

Long-running tools (an import's job): a client that declares the MCP tasks extension gets a task for the job, and a
call with a progress token is followed with progress notifications where the transport carries them (mcp_tasks).

Who is calling: over HTTP the bearer middleware (mcp_http) puts an `Actor` (and the chosen toolsets) on the request
scope; over stdio `HARMONIA_TOKEN` is checked again on every request, so a revoked token or a demotion bites at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING, Any

import mcp.types as types
import orjson
from mcp.server import Server, ServerRequestContext
from mcp.server.caching import CacheHint

from .. import __version__
from ..bootstrap import Harmonia
from ..db import Actor, OverBudget, on_the_loop
from ..errors import HarmoniaError, NotFound
from ..ops.calls import record_call, record_read
from ..ops.prompts import PROMPTS, PromptSpec
from ..ops.prompts import render as render_prompt
from ..ops.registry import Operation
from ..ops.schema import input_schema, output_schema
from ..untrusted import DATA_NOT_INSTRUCTIONS
from . import mcp_tasks

if TYPE_CHECKING:
    from ..services.byo_catalogue import ExtraTool

__all__ = ["ACTOR_SCOPE_KEY", "REQUEST_TOOL_SCHEMAS", "TOOLSETS_SCOPE_KEY", "build_server", "tool_definition"]

log = logging.getLogger("harmonia.mcp")
ACTOR_SCOPE_KEY = "harmonia.actor"
TOOLSETS_SCOPE_KEY = "harmonia.toolsets"
# The input schemas of the workspace's own tools this request may call, by name: set by the HTTP layer (mcp_http)
# before the SDK checks a 2026-era call's `Mcp-Param-*` headers, read by the server's schema lookup.
REQUEST_TOOL_SCHEMAS: ContextVar[dict[str, Any] | None] = ContextVar("harmonia_request_tool_schemas", default=None)
INSTRUCTIONS = (
    "Harmonia is the team's CRM (merchant-cash-advance brokerage). Read with search/*_list/*_get; ids are "
    "opaque (ct_ contact, op_ deal, ac_ account…). Errors say what exists and what to do next. Sends obey the "
    "workspace's outbound switch and consent rules; draft with email_draft when asked to prepare, never send unasked. "
    + DATA_NOT_INSTRUCTIONS
)


@cache
def tool_definition(op: Operation) -> types.Tool:
    """The wire definition of an operation (built once per operation: declarations are immutable)."""
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


# On SQLite, a read-only tool is first run on the event loop, each statement bounded by `HARMONIA_LOOP_READ_MS`
# (default 10; 0 turns this off); past it (or when the read needs the ORM session, or writes an audit row alone) it runs again on
# the thread pool. Why: the hop to a worker thread and back costs more than an indexed read does, and far more on a
# loaded machine, where waking the thread waits for the GIL (docs/benchmarks.md).


def loop_budget(h: Harmonia) -> float:
    """Seconds a statement may run on the event loop; 0 when reads never run there — always on PostgreSQL, where a
    statement is a round trip to the server that the loop would sit waiting on while worker threads overlap them:
    measured 41 calls/s on the loop against 133 on threads (`bench scaleout`, one process, 16 connections). On
    SQLite a statement is in-process work under the GIL either way, and the hop is pure cost."""
    if not h.db.is_sqlite:
        return 0.0
    return max(0.0, float(h.settings.loop_read_ms)) / 1000


def invoke_soon(h: Harmonia, actor: Actor, name: str, arguments: dict[str, Any], threaded: set[str]) -> Any:
    """`h.invoke` of a read on the caller's thread (the event loop), bounded; None when it must run on a worker
    thread. `threaded` remembers the tools that need the ORM, so they go straight to the thread pool next time."""
    op = h.registry.get(name)
    budget = loop_budget(h)
    if op is None or not op.read_only or op.reads_audit or name in threaded or not budget:
        return None
    try:
        with on_the_loop(budget):
            return h.invoke(actor, name, arguments)
    except OverBudget as why:
        if why.args and why.args[0] == OverBudget.NEEDS_ORM:
            threaded.add(name)
        return None


async def invoke_tool(h: Harmonia, actor: Actor, name: str, arguments: dict[str, Any], threaded: set[str]) -> Any:
    """`h.invoke` for an MCP call: a read first on the event loop (bounded), anything else on the thread pool."""
    result = invoke_soon(h, actor, name, arguments, threaded)
    if result is None:
        result = await asyncio.get_running_loop().run_in_executor(h.executor, h.invoke, actor, name, arguments)
    return result


def client_from_meta(meta: Any) -> str | None:
    """The client's name from a request's `_meta` (2026-era requests carry it on every call; a stateless 2025-era
    request has no handshake to remember it from)."""
    info = meta.get("io.modelcontextprotocol/clientInfo") if isinstance(meta, dict) else None
    return str(info["name"])[:80] if isinstance(info, dict) and info.get("name") else None


def with_client(actor: Actor, client: str | None) -> Actor:
    """The actor as the audit names it: the AI client's name, then the token's."""
    if client and client != actor.client:
        return dataclasses.replace(actor, client=f"{client} ({actor.client})" if actor.client else client)
    return actor


def _client_name(ctx: ServerRequestContext[Any]) -> str | None:
    try:
        params = ctx.session.client_params
        if params is not None and params.client_info is not None:
            return str(params.client_info.name)[:80]
    except Exception:
        pass
    return client_from_meta(dict(ctx.meta or {}))


def build_server(
    h: Harmonia,
    *,
    actor: Actor | None = None,
    credential: Callable[[], Actor] | None = None,
    read_only: bool = False,
    toolsets: frozenset[str] | None = None,
) -> Server[Any]:
    """The MCP server over the composition root `h`. Who calls: `actor` (fixed, tests), `credential()` (checked
    again on every request, stdio), or the actor the HTTP middleware put on the request scope. Which toolsets:
    `toolsets`, or those on the request scope, or `core`."""
    registry = h.registry
    loop_executor = h.executor
    static_toolsets = frozenset(registry.toolsets())
    threaded: set[str] = set()  # read tools that need the ORM session: always on the thread pool

    async def who(ctx: ServerRequestContext[Any]) -> Actor:
        found = actor
        scope = getattr(ctx.request, "scope", None) or {}
        if found is None and credential is not None:
            found = await asyncio.get_running_loop().run_in_executor(loop_executor, credential)
        if found is None:
            found = scope.get(ACTOR_SCOPE_KEY)
        if found is None:
            raise HarmoniaError("no authenticated caller")
        return with_client(found, _client_name(ctx))

    def chosen(ctx: ServerRequestContext[Any]) -> frozenset[str]:
        scope = getattr(ctx.request, "scope", None) or {}
        return toolsets or scope.get(TOOLSETS_SCOPE_KEY) or frozenset({"core"})

    def visible(ctx: ServerRequestContext[Any], a: Actor) -> list[Operation]:
        ops = registry.mcp_tools(a.scopes, chosen(ctx))
        return [op for op in ops if op.read_only] if read_only else ops

    async def extra_tools(ctx: ServerRequestContext[Any], a: Actor) -> list[ExtraTool]:
        """The workspace's own tools of the chosen toolsets (services.byo_catalogue), after the registry's."""
        if h.byo is None or chosen(ctx) <= static_toolsets:
            return []
        extras = await h.byo.tools(a, chosen(ctx))
        return [t for t in extras if t.read_only] if read_only else extras

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        a = await who(ctx)
        tools = [tool_definition(op) for op in visible(ctx, a)]
        return types.ListToolsResult(tools=tools + [_extra_definition(t) for t in await extra_tools(ctx, a)])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | dict[str, Any]:
        try:
            a = await who(ctx)
        except HarmoniaError as error:
            return _error(error)
        name = params.name
        op = registry.get(name)
        loop = asyncio.get_running_loop()
        if op is None and h.byo is not None and not chosen(ctx) <= static_toolsets:
            try:
                routed = await h.byo.call(a, name, dict(params.arguments or {}), params.meta, chosen(ctx),
                                          read_only=read_only)  # fmt: skip
            except HarmoniaError as error:
                return _error(error)
            except Exception:  # a fault of ours in the workspace's own tools: logged, never shown
                request_id = a.request_id or uuid.uuid4().hex[:12]
                log.exception("workspace tool %s failed (request %s)", name, request_id)
                return _error(HarmoniaError(f"'{name}' failed unexpectedly. Quote request id {request_id} to support."))
            if routed is not None:
                is_error, text = routed
                return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=is_error)
        if op is None or not op.mcp or (read_only and not op.read_only) or op.toolset not in chosen(ctx):
            known = ", ".join(o.name for o in visible(ctx, a))
            refusal = NotFound(f"unknown tool {name[:80]!r}; tools available here: {known}")
            # Audited like any refused call: a write tool asked of a read-only endpoint is a denial worth seeing.
            in_catalogue = op is not None and op.mcp and op.toolset in chosen(ctx)
            action, outcome = (name, "denied") if in_catalogue else ("tools/call", "error")
            detail = "read-only endpoint" if outcome == "denied" else f"unknown tool {name[:60]!r}"
            await loop.run_in_executor(loop_executor, lambda: record_call(h.db, a, action, outcome, detail=detail))
            return _error(refusal)
        try:
            result = await invoke_tool(h, a, name, dict(params.arguments or {}), threaded)
            data = result.model_dump(mode="json", exclude_none=True)
            job_id = mcp_tasks.started_job(name, data)  # a long-running tool: a task, or followed with progress
            if job_id and mcp_tasks.declares_tasks(ctx):
                return await mcp_tasks.task_for(h, a, job_id)
            if job_id and mcp_tasks.follows_job(server, ctx):
                data = await mcp_tasks.follow(h, a, ctx, job_id)
        except HarmoniaError as error:
            return _error(error)
        except Exception:  # invoke never raises anything else; this is the last line before a -32603
            request_id = a.request_id or uuid.uuid4().hex[:12]
            log.exception("tool %s failed outside the registry (request %s)", name, request_id)
            return _error(HarmoniaError(f"'{name}' failed unexpectedly. Quote request id {request_id} to support."))
        return _tool_result(data)

    async def list_prompts(ctx: ServerRequestContext[Any], params: Any) -> types.ListPromptsResult:
        a = await who(ctx)
        if "mcp:read" not in a.scopes:
            return types.ListPromptsResult(prompts=[])
        return types.ListPromptsResult(prompts=[_prompt(p) for p in PROMPTS.values()])

    async def get_prompt(ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> types.GetPromptResult:
        a = await who(ctx)
        loop = asyncio.get_running_loop()
        try:
            description, text = await loop.run_in_executor(
                loop_executor, render_prompt, h.db, a, params.name, dict(params.arguments or {})
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
        await who(ctx)
        return types.ListResourcesResult(resources=[outbound])

    async def list_templates(ctx: ServerRequestContext[Any], params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        a = await who(ctx)
        loop = asyncio.get_running_loop()
        if str(params.uri) != outbound.uri:
            from mcp.shared.exceptions import MCPError

            detail = f"unknown resource {str(params.uri)[:80]!r}"
            await loop.run_in_executor(
                loop_executor, lambda: record_call(h.db, a, "resources/read", "error", detail=detail)
            )
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"unknown resource {str(params.uri)[:200]}; resources: {outbound.uri}",
            )
        state = await loop.run_in_executor(loop_executor, _outbound_state, h, a)
        record_read(h.reads, a, "resources/read", ("resource", "outbound"))
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=outbound.uri, mime_type="application/json", text=_json(state))]
        )

    def tool_input_schema(name: str) -> Any:
        """The input schema the SDK checks a 2026-era call's `Mcp-Param-*` headers against. Without this lookup the
        SDK finds it by running this server's whole `tools/list` (32 KB built and validated) on every `tools/call`
        that has arguments — measured as most of a modern-era call's cost. A workspace's own tool is found in the
        schemas the HTTP layer resolved for this request (`REQUEST_TOOL_SCHEMAS`): the lookup is synchronous and
        knows no caller, while those tools are the caller's workspace's."""
        op = registry.get(name)
        if op is not None:
            return tool_definition(op).input_schema if op.mcp else None
        return (REQUEST_TOOL_SCHEMAS.get() or {}).get(name)

    server = Server(
        "harmonia",
        version=__version__,
        get_tool_input_schema=tool_input_schema,
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
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )
    # Registered by method rather than `on_call_tool`: a tools/call may also answer with the tasks extension's
    # CreateTaskResult (mcp_tasks), a shape outside the SDK's core result union.
    server.add_request_handler("tools/call", types.CallToolRequestParams, call_tool)
    mcp_tasks.install(server, h, who, read_only=read_only)
    return server


def _outbound_state(h: Harmonia, actor: Actor) -> dict[str, Any]:
    from ..models import Tenant

    with h.db.unit_of_work(actor, write=False) as uow:
        t = uow.session.get(Tenant, actor.tenant_id)
        assert t is not None
        return {k: v for k, v in {
            "outbound_enabled": t.outbound_enabled,
            "changed_at": t.outbound_changed_at.isoformat() if t.outbound_changed_at else None,
            "changed_by": t.outbound_changed_by, "reason": t.outbound_reason,
            "turn_on": "an owner, in Settings → Comms → Outbound or `harmonia outbound on` at the server",
        }.items() if v is not None}  # fmt: skip


def _extra_definition(tool: ExtraTool) -> types.Tool:
    """A workspace's own tool on the wire: open world always (it reaches outside), the rest as its owner or the
    upstream declared it."""
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=tool.read_only or None,
            destructive_hint=None if tool.read_only else tool.destructive,
            open_world_hint=True,
        ),
    )


def _prompt(p: PromptSpec) -> types.Prompt:
    return types.Prompt(
        name=p.name,
        title=p.title,
        description=p.description,
        arguments=[
            types.PromptArgument(name=a.name, description=a.description, required=a.required) for a in p.arguments
        ],
    )


def _tool_result(data: dict[str, Any]) -> dict[str, Any]:
    """A successful tools/call result, on the wire as is: the text block is `data` serialised once (orjson, compact),
    and `structuredContent` is the same object, not re-validated here (the registry already checked it).

    Both parts carry the whole result, on purpose, even a large one: the SDK client refuses a result without
    `structuredContent` when the tool declares an `outputSchema` (every tool here does), Claude Code hands the model
    only `structuredContent` when present, and other clients (kimi-code, dify, opencode) read only the text — the
    spec's SHOULD "also return the serialized JSON in a TextContent block" exists for them (research/mcp-protocol.md).
    What is not done twice is the work: one serialisation for the text, one object for the structured part."""
    return {"content": [{"type": "text", "text": _json(data)}], "structuredContent": data, "resultType": "complete"}


def _error(error: HarmoniaError) -> types.CallToolResult:
    return types.CallToolResult(
        is_error=True,
        content=[types.TextContent(type="text", text=error.message)],
        structured_content={"error": error.to_dict()},
    )
