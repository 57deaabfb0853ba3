"""The one place a workspace's extra tools come from: its HTTP tools (toolset `custom`, named `custom_<name>`) and
the tools of its upstream MCP servers (toolset `NAME`, named `NAME_<tool>`), for one actor.

The MCP server asks this for the tools of the toolsets a caller chose and routes calls here; everything a static
operation gets from `invoke()` happens here for these: the scope check (denials audited), the outbound switch for a
tool that sends to people (such a tool is `mcp:comms` whatever its owner chose), the loop check for a routed call,
the audit row of every call (the arguments as a digest), and fenced, bounded results.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio

from ..db import Actor, Database
from ..errors import HarmoniaError, InvalidArguments, ScopeDenied
from ..models import TenantTool, Upstream
from ..routing import Trace
from ..untrusted import Fence, neutralise
from . import audit, byo, byo_calls
from . import comms as comms_service

__all__ = ["ExtraTool", "TenantCatalogue"]

log = logging.getLogger("harmonia.byo")
UPSTREAM_TTL = 30.0  # seconds an upstream's tool list is reused before it is asked again


@dataclass(frozen=True)
class ExtraTool:
    name: str
    toolset: str
    scope: str
    title: str | None
    description: str
    input_schema: dict[str, Any]
    read_only: bool
    destructive: bool
    sends: bool
    remote: str  # the HTTP tool's or the upstream tool's own name
    open_world: bool = True  # it reaches outside the workspace, always


@dataclass(frozen=True)
class _Definitions:
    tools: list[TenantTool]
    upstreams: list[Upstream]


class TenantCatalogue:
    def __init__(self, db: Database, *, max_hops: int = 3, ca_file: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.db = db
        self.ca_file = ca_file  # HARMONIA_EGRESS_CA_FILE: an operator's own CA, trusted beside the public roots
        self._verify: Any = None
        self.max_hops = max_hops
        self.monotonic = monotonic
        self._cache: dict[tuple[str, str, str], tuple[float, list[byo_calls.UpstreamTool]]] = {}
        self._instance: str | None = None

    @property
    def verify(self) -> Any:
        """The TLS trust of every call out (built once: loading the roots costs milliseconds)."""
        if self._verify is None:
            from ..egress import trust

            self._verify = trust(self.ca_file)
        return self._verify

    @property
    def instance(self) -> str:
        if self._instance is None:
            self._instance = byo.instance_id(self.db)
        return self._instance

    def toolsets(self, actor: Actor) -> list[str]:
        """The toolsets this actor's workspace adds (and only its own: another workspace's names are unknown here)."""
        with self.db.unit_of_work(actor, write=False) as uow:
            return byo.tenant_toolsets(uow)

    async def tools(self, actor: Actor, toolsets: Iterable[str]) -> list[ExtraTool]:
        """The extra tools of the chosen toolsets that the actor's scopes allow, HTTP tools first, then each upstream
        (an upstream that cannot be reached contributes nothing and is logged; the rest of the catalogue stands)."""
        chosen = set(toolsets)
        found = await anyio.to_thread.run_sync(self._definitions, actor)
        out: list[ExtraTool] = []
        if byo.CUSTOM_TOOLSET in chosen:
            out += [_http_tool(t) for t in found.tools]
        for upstream in found.upstreams:
            if upstream.name in chosen:
                try:
                    out += await self._upstream_tools(actor, upstream)
                except HarmoniaError as error:
                    log.warning("upstream %s of %s not listed: %s", upstream.name, actor.tenant_id, error.message)
        return [t for t in out if t.scope in actor.scopes]

    async def call(self, actor: Actor, name: str, arguments: dict[str, Any], meta: Any, toolsets: Iterable[str],
                   *, read_only: bool = False) -> tuple[bool, str] | None:  # fmt: skip
        """Run extra tool `name` (None: no such tool here — or, on a read-only endpoint, no such read-only tool).
        Answers (is_error, text); raises a HarmoniaError for a refusal (scope, switch, loop, guard), which is audited
        here like any other outcome."""
        chosen = set(toolsets)
        found = await anyio.to_thread.run_sync(self._definitions, actor)
        digest = audit_digest(arguments)
        if name.startswith(byo.CUSTOM_TOOLSET + "_") and byo.CUSTOM_TOOLSET in chosen:
            row = next((t for t in found.tools if f"{byo.CUSTOM_TOOLSET}_{t.name}" == name), None)
            tool = _http_tool(row) if row is not None else None
            if row is None or tool is None or (read_only and not tool.read_only):
                return None
            return await self._audited(actor, tool, ("tenant_tool", row.id), digest,
                                       lambda: self._call_http(actor, row, arguments))  # fmt: skip
        for upstream in found.upstreams:
            if upstream.name in chosen and name.startswith(upstream.name + "_"):
                tools = await self._upstream_tools(actor, upstream)
                match = next((t for t in tools if t.name == name), None)
                if match is None or (read_only and not match.read_only):
                    return None
                trace = Trace.from_meta(meta)
                target = ("upstream", upstream.id)
                run = functools.partial(self._call_upstream, actor, upstream, match, arguments, trace)
                return await self._audited(actor, match, target, digest, run)
        return None

    # ---- the common path: scope, switch, audit

    async def _audited(self, actor: Actor, tool: ExtraTool, target: tuple[str, str], digest: str,
                       run: Callable[[], Any]) -> tuple[bool, str]:  # fmt: skip
        def record(outcome: str, detail: str | None) -> None:
            audit.append_alone(self.db, actor, action=tool.name, outcome=outcome, args_digest=digest,
                               target_type=target[0], target_id=target[1], detail=detail)  # fmt: skip

        try:
            if tool.scope not in actor.scopes:
                raise ScopeDenied(tool.name, tool.scope)
            if tool.sends:
                await anyio.to_thread.run_sync(self._outbound_allows, actor)
            is_error, text = await run()
        except HarmoniaError as error:
            await anyio.to_thread.run_sync(record, error.outcome, error.code)
            raise
        await anyio.to_thread.run_sync(record, "error" if is_error else "ok", None)
        return is_error, text

    def _outbound_allows(self, actor: Actor) -> None:
        with self.db.unit_of_work(actor, write=False) as uow:
            refusal = comms_service.outbound_refusal(uow)
        if refusal is not None:
            raise refusal

    def _definitions(self, actor: Actor) -> _Definitions:
        with self.db.unit_of_work(actor, write=False) as uow:
            return _Definitions(tools=byo.list_tools(uow), upstreams=byo.list_upstreams(uow))

    def _secrets(self, actor: Actor, names: set[str], host: str) -> dict[str, str]:
        with self.db.unit_of_work(actor, write=False) as uow:
            return byo.secret_values(uow, self.db.vault, names, host)

    # ---- HTTP tools

    async def _call_http(self, actor: Actor, row: TenantTool, arguments: dict[str, Any]) -> tuple[bool, str]:
        _validate(row.input_schema, arguments, f"{byo.CUSTOM_TOOLSET}_{row.name}")
        host = byo_calls.expand(row.method, row.url_template, {}, {k: "x" for k in arguments}, {}).host
        secrets = await anyio.to_thread.run_sync(self._secrets, actor, byo_calls.secret_names(row.headers), host)
        request = byo_calls.expand(row.method, row.url_template, row.headers, arguments, secrets)
        instance = await anyio.to_thread.run_sync(lambda: self.instance)
        request.headers["Via"] = f"1.1 {instance}"  # a workspace's endpoint can tell a call came through us

        from ..egress import EgressResponse, GuardedTransport, fetch

        transport = GuardedTransport(verify=self.verify)

        def send() -> EgressResponse:
            return fetch(request.url, method=request.method, headers=request.headers, content=request.body,
                                max_bytes=row.max_bytes, timeout=row.timeout_seconds, transport=transport)  # fmt: skip

        answer = await anyio.to_thread.run_sync(send)
        text = answer.content.decode("utf-8", errors="replace")
        fenced = Fence().mark(text, f"tool_{row.name}") or ""
        if answer.status_code >= 400:
            return True, f"the endpoint answered HTTP {answer.status_code}: {fenced}"
        return False, fenced

    # ---- upstream MCP servers

    async def _upstream_headers(self, actor: Actor, upstream: Upstream) -> dict[str, str]:
        from urllib.parse import urlsplit

        host = urlsplit(upstream.url).hostname or ""
        values = await anyio.to_thread.run_sync(self._secrets, actor, set(upstream.headers.values()), host)
        return {header: values[secret] for header, secret in upstream.headers.items()}

    async def _upstream_tools(self, actor: Actor, upstream: Upstream) -> list[ExtraTool]:
        key = (actor.tenant_id, upstream.id, upstream.updated_at.isoformat())
        cached = self._cache.get(key)
        if cached is None or cached[0] < self.monotonic():
            headers = await self._upstream_headers(actor, upstream)
            remote = await byo_calls.list_upstream_tools(upstream.url, headers, self.verify)
            self._cache[key] = cached = (self.monotonic() + UPSTREAM_TTL, remote)
        tools = []
        for t in cached[1]:
            name = f"{upstream.name}_{t.name}"
            if not byo_calls.TOOL_NAME.match(name):
                continue  # a name no client could call
            sends = t.name in (upstream.sending_tools or [])
            tools.append(ExtraTool(
                name=name, toolset=upstream.name, scope="mcp:comms" if sends else upstream.scope,
                title=neutralise(t.title)[:80] if t.title else None,
                description=byo_calls.clean_description(upstream.name, t.description), input_schema=t.input_schema,
                read_only=t.read_only and not sends, destructive=t.destructive, sends=sends, remote=t.name,
            ))  # fmt: skip
        return tools

    async def _call_upstream(self, actor: Actor, upstream: Upstream, tool: ExtraTool, arguments: dict[str, Any],
                             trace: Trace) -> tuple[bool, str]:  # fmt: skip
        instance = await anyio.to_thread.run_sync(lambda: self.instance)  # read once from the database, then kept
        trace.check_route(instance, upstream.name, self.max_hops)
        headers = await self._upstream_headers(actor, upstream)
        return await byo_calls.call_upstream(upstream.url, headers, tool.remote, arguments, trace, instance,
                                             upstream.name, f"upstream_{upstream.name}", self.verify)  # fmt: skip


def _http_tool(row: TenantTool) -> ExtraTool:
    return ExtraTool(
        name=f"{byo.CUSTOM_TOOLSET}_{row.name}", toolset=byo.CUSTOM_TOOLSET,
        scope="mcp:comms" if row.sends else row.scope, title=None, description=row.description,
        input_schema=row.input_schema, read_only=row.read_only and not row.sends, destructive=not row.read_only,
        sends=row.sends, remote=row.name,
    )  # fmt: skip


def _validate(schema: dict[str, Any], arguments: dict[str, Any], name: str) -> None:
    import jsonschema  # type: ignore[import-untyped]

    problems = sorted(jsonschema.Draft202012Validator(schema).iter_errors(arguments), key=lambda e: list(e.path))
    if problems:
        parts = [f"'{'.'.join(map(str, p.path)) or 'arguments'}': {p.message[:200]}" for p in problems[:5]]
        raise InvalidArguments(f"Invalid arguments for {name}: " + "; ".join(parts))


def audit_digest(arguments: dict[str, Any]) -> str:
    import hashlib

    import orjson

    return hashlib.sha256(orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
