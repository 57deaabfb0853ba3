"""MCP over Streamable HTTP: `/mcp` (every tool the token's scopes allow) and `/mcp/readonly` (read tools only,
whatever the token holds — for clients with a tool cap, GitHub-toolsets style).

Stateless with JSON responses: no session lives in a process, so any number of app servers can run behind a load
balancer (legacy clients lose only server-initiated requests, which Harmonia does not use). DNS-rebinding
protection (Host/Origin allow-lists) stays on, configured by `HARMONIA_ALLOWED_HOSTS` / `_ORIGINS`.

Auth: `Authorization: Bearer hm_…` (static, or an OAuth access token bound to this endpoint) → `Actor`, checked
against the database on every request (a revoked token or connected app, or a demotion, bites on the next call, in
every process), put on the ASGI scope for the tool handlers. Without a valid token: `401` with
`WWW-Authenticate: Bearer resource_metadata="…", scope="…"` (RFC 9728 discovery). A `tools/call` outside the token's
effective scopes is answered `403` with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` (and audited
as denied), so clients that can step up, do; its body is a JSON-RPC error naming the scope, so a model behind any
other client learns what is missing.

Toolsets (SPEC §8): `/mcp?toolsets=core,automation` (or `all`) chooses the catalogue; default `core`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import orjson
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.routing import Route

from ..bootstrap import Harmonia
from ..db import OverBudget, on_the_loop
from ..errors import HarmoniaError
from ..ops.registry import Operation
from ..services.tenancy import authenticate
from .mcp_fast import FastReads
from .mcp_server import ACTOR_SCOPE_KEY, REQUEST_TOOL_SCHEMAS, TOOLSETS_SCOPE_KEY, build_server, loop_budget
from .oauth_http import ENDPOINT_SCOPES, resource_metadata_url
from .request_log import request_id_of

__all__ = ["ENDPOINTS", "TrimHeaderWhitespace", "install"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ENDPOINTS = {"/mcp": False, "/mcp/readonly": True}  # path → read-only
MAX_BODY = 4 * 1024 * 1024
log = logging.getLogger("harmonia.mcp")
INSUFFICIENT_SCOPE = -32003  # a JSON-RPC server error code (the -32000…-32099 range is the server's)


class BearerAuth:
    """Authenticates every request; refuses a tools/call outside the token's scopes with a 403 step-up challenge."""

    def __init__(self, app: StreamableHTTPASGIApp, h: Harmonia, resource: str, metadata_url: str, scope: str,
                 fast: FastReads) -> None:  # fmt: skip
        self.app = app
        self.fast = fast  # reads answered here, without the SDK's per-request session
        self.h = h
        self.resource = resource
        self.metadata_url = metadata_url  # RFC 9728: where a client discovers how to get a token for this resource
        self.scope = scope  # what the 401 asks for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        secret = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        try:
            actor = await self._authenticate(secret)
        except Exception as error:
            if not isinstance(error, HarmoniaError):  # the database is down, or a fault of ours: logged, not shown
                request_id = request_id_of(scope)
                log.exception("MCP authentication failed unexpectedly (request %s)", request_id)
                await _reply(send, 503, _rpc_error(None, -32603, "the server could not check the token right now; "
                                                   f"retry shortly (request id {request_id})"))  # fmt: skip
                return
            challenge = f'Bearer resource_metadata="{self.metadata_url}", scope="{self.scope}"'
            if secret:
                challenge += ', error="invalid_token"'
            await _reply(send, 401, {"error": "invalid_token", "error_description": error.message},
                         {"www-authenticate": challenge})  # fmt: skip
            return
        actor = dataclasses.replace(actor, request_id=request_id_of(scope))
        scope[ACTOR_SCOPE_KEY] = actor
        try:
            requested = _query_value(scope, "toolsets")
            byo = self.h.byo
            own = (lambda: byo.toolsets(actor)) if byo is not None else None
            if (
                requested is not None
                and own is not None
                and any(n.strip() not in self.h.registry.toolsets() for n in requested.split(","))
            ):  # the workspace's own toolsets are read from the database: off the event loop
                chosen = await anyio.to_thread.run_sync(lambda: self.h.registry.choose_toolsets(requested, own))
            else:
                chosen = self.h.registry.choose_toolsets(requested, own)
            scope[TOOLSETS_SCOPE_KEY] = chosen
        except HarmoniaError as error:
            await _reply(send, 400, {"error": "invalid_request", "error_description": error.message})
            return
        if scope["method"] != "POST":
            # Stateless JSON mode has no stream to offer: a GET would hold an idle SSE stream (and a file descriptor)
            # open for ever, and there is no session to DELETE. The spec lets a server answer 405; the SDK client
            # opens a GET stream only when a server gave it a session id, which this one never does.
            await _reply(send, 405, _rpc_error(None, -32600, f"{scope['method']} is not supported here: send each "
                         "JSON-RPC message as a POST (Streamable HTTP, stateless)"), {"allow": "POST"})  # fmt: skip
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                await _reply(send, 413, _rpc_error(None, -32600, f"the request body is over {MAX_BODY:,} bytes; "
                                                   "send a smaller message"))  # fmt: skip
                return
        message = _parsed(body)  # parsed once, here, for both checks; the SDK parses its own copy
        malformed = _envelope_problem(message)
        if malformed is not None:
            await _reply(send, 400, malformed)
            return
        needed, rpc_id = _scope_needed(self.h, actor, message)
        if needed is not None:
            denied = await anyio.to_thread.run_sync(lambda: self.h.registry.deny(self.h.db, actor, needed.name))
            required = denied.details.get("required_scope", needed.scope.value)
            # The body is a JSON-RPC error, so a client that does not step up still hands the model the words
            # naming the scope (the SDK surfaces a non-2xx JSON-RPC error body as is); the header is the step-up.
            rpc_error = {
                "code": INSUFFICIENT_SCOPE,
                "message": denied.message,
                "data": {"error": "insufficient_scope", "required_scope": required},
            }
            await _reply(send, 403, {"jsonrpc": "2.0", "id": rpc_id, "error": rpc_error},
                         {"www-authenticate": f'Bearer error="insufficient_scope", scope="{required}", '
                          f'resource_metadata="{self.metadata_url}", error_description="{denied.message}"'})  # fmt: skip
            return
        if await self.fast.answer(scope, message, actor, chosen, send):
            return
        if _header(scope, b"mcp-protocol-version") in MODERN_PROTOCOL_VERSIONS:  # the era that checks them
            await self._workspace_tool_schemas(message, actor, chosen)
        replayed = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _workspace_tool_schemas(self, message: Any, actor: Any, chosen: frozenset[str]) -> None:
        """For a `tools/call` of one of the workspace's own tools, its input schema where the SDK's header check finds
        it (mcp_server.REQUEST_TOOL_SCHEMAS): an upstream's schema may declare `Mcp-Param-*` headers."""
        params = message.get("params") if isinstance(message, dict) and message.get("method") == "tools/call" else None
        name = params.get("name") if isinstance(params, dict) else None
        if self.h.byo is None or not isinstance(name, str) or self.h.registry.get(name) is not None:
            return
        if chosen <= frozenset(self.h.registry.toolsets()):
            return
        try:
            extras = await self.h.byo.tools(actor, chosen)
        except HarmoniaError:
            return  # the call itself will say what is wrong
        REQUEST_TOOL_SCHEMAS.set({t.name: t.input_schema for t in extras})

    async def _authenticate(self, secret: str | None) -> Any:
        """The token check (one indexed read) on the event loop, bounded like a loop read (mcp_server); on a worker
        thread when it runs long or must record the token's use (a write)."""
        budget = loop_budget(self.h)
        try:
            if budget:
                with on_the_loop(budget):
                    return authenticate(self.h.db, secret, channel="mcp", resource=self.resource)
        except OverBudget:
            pass
        return await anyio.to_thread.run_sync(
            lambda: authenticate(self.h.db, secret, channel="mcp", resource=self.resource)
        )


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


def _query_value(scope: Scope, name: str) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return ",".join(values) if values else None


def _rpc_error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


_UNPARSABLE = object()  # a body that is not JSON: the SDK answers it with its own parse error


def _parsed(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _UNPARSABLE


def _envelope_problem(message: Any) -> dict[str, Any] | None:
    """A JSON-RPC error for an envelope the SDK would choke on (params that are not an object, a batch), or None.
    Everything else — parse errors, unknown methods, bad arguments — the SDK answers itself."""
    if message is _UNPARSABLE:
        return None
    if isinstance(message, list):
        return _rpc_error(None, -32600, "JSON-RPC batches are not supported (MCP removed them): send one message "
                          "per POST")  # fmt: skip
    if not isinstance(message, dict):
        return _rpc_error(None, -32600, "a JSON-RPC message is a JSON object with jsonrpc, method and id")
    rid = message.get("id")
    rid = rid if isinstance(rid, str | int) and not isinstance(rid, bool) else None
    if "params" in message and not isinstance(message["params"], dict | None):
        return _rpc_error(rid, -32602, "params must be a JSON object, e.g. {\"name\": \"search\", \"arguments\": "
                          "{\"q\": \"acme\"}}")  # fmt: skip
    return None


def _scope_needed(h: Harmonia, actor: Any, message: Any) -> tuple[Operation | None, Any]:
    """The tool a `tools/call` names when the token lacks its scope, and the request's id (on the loop: cheap, no
    database)."""
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None, None
    params = message.get("params")
    name = params.get("name") if isinstance(params, dict) else None
    op = h.registry.get(name) if isinstance(name, str) else None
    if op is None or not op.mcp or op.scope.value in actor.scopes:
        return None, None
    return op, message.get("id")


class TrimHeaderWhitespace:
    """RFC 9110 §5.5: a field value excludes leading and trailing whitespace; some servers pass it through."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope, headers=[(k, v.strip(b" \t")) for k, v in scope["headers"]])
        await self.app(scope, receive, send)


async def _reply(send: Send, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", b"application/json")]
    raw += [(k.encode(), v.encode("latin-1", "replace")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": orjson.dumps(payload)})


def install(app: Starlette) -> None:
    h: Harmonia = app.state.h
    settings = h.settings
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[h.strip() for h in settings.allowed_hosts.split(",") if h.strip()],
        allowed_origins=[o.strip() for o in settings.allowed_origins.split(",") if o.strip()],
    )
    servers: list[Server[Any]] = []
    for path, read_only in ENDPOINTS.items():
        server = build_server(h, read_only=read_only)
        server.streamable_http_app(
            streamable_http_path=path, json_response=True, stateless_http=True, transport_security=security
        )
        public_url = settings.public_url.rstrip("/")
        auth = BearerAuth(StreamableHTTPASGIApp(server.session_manager), h, public_url + path,
                          resource_metadata_url(public_url, path), " ".join(ENDPOINT_SCOPES[path]),
                          FastReads(h, server, security))  # fmt: skip
        endpoint = TrimHeaderWhitespace(auth)
        app.router.routes.append(Route(path, endpoint=endpoint))
        servers.append(server)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for server in servers:
                await stack.enter_async_context(server.session_manager.run())
            yield

    app.state.lifespans.append(lifespan)
