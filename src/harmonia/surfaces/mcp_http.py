"""MCP over Streamable HTTP: `/mcp` (every tool the token's scopes allow) and `/mcp/readonly` (read tools only,
whatever the token holds — for clients with a tool cap, GitHub-toolsets style).

Stateless with JSON responses: no session lives in a process, so any number of app servers can run behind a load
balancer (legacy clients lose only server-initiated requests, which Harmonia does not use). DNS-rebinding
protection (Host/Origin allow-lists) stays on, configured by `HARMONIA_ALLOWED_HOSTS` / `_ORIGINS`.

Auth: `Authorization: Bearer hm_…` (static, or an OAuth access token bound to this endpoint) → `Actor`, put on the
ASGI scope for the tool handlers. Without a valid token: `401` with `WWW-Authenticate: Bearer resource_metadata="…",
scope="…"` (RFC 9728 discovery). A `tools/call` outside the token's scopes is answered `403` with
`WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` (and audited as denied), so clients that can step
up, do; its body is a JSON-RPC error naming the scope, so a model behind any other client learns what is missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import orjson
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route

from ..db import Database
from ..errors import HarmoniaError
from ..ops import registry
from ..ops.registry import Operation
from ..services.tenancy import authenticate, recently_authenticated
from .mcp_server import ACTOR_SCOPE_KEY, build_server
from .oauth_http import ENDPOINT_SCOPES, resource_metadata_url

__all__ = ["ENDPOINTS", "TrimHeaderWhitespace", "install"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ENDPOINTS = {"/mcp": False, "/mcp/readonly": True}  # path → read-only
MAX_BODY = 4 * 1024 * 1024
INSUFFICIENT_SCOPE = -32003  # a JSON-RPC server error code (the -32000…-32099 range is the server's)


class BearerAuth:
    """Authenticates every request; refuses a tools/call outside the token's scopes with a 403 step-up challenge."""

    def __init__(self, app: StreamableHTTPASGIApp, db: Database, resource: str, metadata_url: str, scope: str) -> None:
        self.app = app
        self.db = db
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
            # A token checked in the last seconds is answered here; only a first sight reads the database (off-loop).
            actor = recently_authenticated(self.db, secret, channel="mcp")
            if actor is None:
                actor = await anyio.to_thread.run_sync(
                    lambda: authenticate(self.db, secret, channel="mcp", resource=self.resource)
                )
        except HarmoniaError as error:
            challenge = f'Bearer resource_metadata="{self.metadata_url}", scope="{self.scope}"'
            if secret:
                challenge += ', error="invalid_token"'
            await _reply(send, 401, {"error": "invalid_token", "error_description": error.message},
                         {"www-authenticate": challenge})  # fmt: skip
            return
        scope[ACTOR_SCOPE_KEY] = actor
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                await _reply(send, 413, {"error": "request body too large"})
                return
        needed, request_id = _scope_needed(actor, body)
        if needed is not None:
            denied = await anyio.to_thread.run_sync(lambda: registry().deny(self.db, actor, needed.name))  # audited
            # The body is a JSON-RPC error, so a client that does not step up still hands the model the words
            # naming the scope (the SDK surfaces a non-2xx JSON-RPC error body as is); the header is the step-up.
            rpc_error = {
                "code": INSUFFICIENT_SCOPE,
                "message": denied.message,
                "data": {"error": "insufficient_scope", "required_scope": denied.required},
            }
            await _reply(send, 403, {"jsonrpc": "2.0", "id": request_id, "error": rpc_error},
                         {"www-authenticate": f'Bearer error="insufficient_scope", scope="{denied.required}", '
                          f'resource_metadata="{self.metadata_url}", error_description="{denied.message}"'})  # fmt: skip
            return
        replayed = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _scope_needed(actor: Any, body: bytes) -> tuple[Operation | None, Any]:
    """The tool a `tools/call` names when the token lacks its scope, and the request's id (parsed here, on the loop:
    cheap, no database)."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None, None
    name = (message.get("params") or {}).get("name")
    op = registry().get(name) if isinstance(name, str) else None
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
    db: Database = app.state.db
    settings = app.state.settings
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[h.strip() for h in settings.allowed_hosts.split(",") if h.strip()],
        allowed_origins=[o.strip() for o in settings.allowed_origins.split(",") if o.strip()],
    )
    servers: list[Server[Any]] = []
    for path, read_only in ENDPOINTS.items():
        server = build_server(db, read_only=read_only)
        server.streamable_http_app(
            streamable_http_path=path, json_response=True, stateless_http=True, transport_security=security
        )
        public_url = settings.public_url.rstrip("/")
        auth = BearerAuth(StreamableHTTPASGIApp(server.session_manager), db, public_url + path,
                          resource_metadata_url(public_url, path), " ".join(ENDPOINT_SCOPES[path]))  # fmt: skip
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
