"""A `tools/call` of a read, answered in the HTTP handler without the SDK's per-request session (issue 21).

In stateless mode the SDK builds, for every POST, a transport, a server session, a dispatcher, memory streams and a
task group, and takes the call through its runner: ~0.43 ms of CPU a call on this machine for the 2025 era and
~0.27 ms for the 2026 era, more than Harmonia's own work for an indexed read. A model's calls are mostly reads, so
they are answered here; everything else, and anything this module is not sure of, goes to the SDK untouched.

What makes the answer the SDK's own, not a look-alike: the same request checks, by the SDK's own functions
(Host/Origin, Accept, Content-Type; for the 2026 era its inbound ladder — envelope `_meta`, routing headers,
`Mcp-Param-*` headers); the same params validation for the version (`validate_client_request`, then
`CallToolRequestParams`); the result shaped by the SDK's per-version sieve (`serialize_server_result`), stamped with
`serverInfo` in the 2026 era; the envelope dumped as the SDK's transport dumps it. `tests/mcp/test_fast_reads.py`
compares answers with and without this path, byte for byte once parsed, in both eras.

Not answered here (the SDK answers): any method but `tools/call`; a tool that is not a read of the registry (writes,
a workspace's own tools, refusals); a task-augmented call; an era-less request (no `MCP-Protocol-Version` header) or
a version the SDK routes elsewhere; anything a check does not pass — the SDK then gives its own error. Left out on
purpose: the SDK's OpenTelemetry span around the handler (none is configured by Harmonia). Off with
`HARMONIA_MCP_FAST_READS=false`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import mcp.types as types
import orjson
from mcp.server import Server
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundModernRoute,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp_types import SERVER_INFO_META_KEY
from mcp_types import methods as sdk_methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request

from ..bootstrap import Harmonia
from ..db import Actor
from ..errors import HarmoniaError
from .mcp_server import _error, _tool_result, client_from_meta, invoke_tool, tool_definition, with_client

__all__ = ["FastReads"]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
log = logging.getLogger("harmonia.mcp")
_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})


class FastReads:
    """Answers eligible read calls of one MCP endpoint. `server` is that endpoint's SDK server (its identity stamps
    2026-era results)."""

    def __init__(self, h: Harmonia, server: Server[Any], security: TransportSecuritySettings) -> None:
        self.h = h
        self.server = server
        # The SDK wraps every handler in `server.middleware` (by default only its OpenTelemetry span, which this path
        # leaves out). Should anyone add another, reads must pass through it: the fast path then stands aside.
        self.enabled = h.settings.mcp_fast_reads and all(
            type(m).__name__ == "OpenTelemetryMiddleware" for m in getattr(server, "middleware", [])
        )
        self.security = TransportSecurityMiddleware(security)
        self.threaded: set[str] = set()  # read tools that need the ORM session: straight to the thread pool
        self.answered = 0  # calls answered here since start (the rest went to the SDK)

    async def answer(self, scope: MutableMapping[str, Any], message: Any, actor: Actor, chosen: frozenset[str],
                     send: Send) -> bool:  # fmt: skip
        """Answer `message` (the parsed POST body) and return True, or return False having sent nothing."""
        if not self.enabled or not isinstance(message, dict) or message.get("method") != "tools/call":
            return False
        params = message.get("params")
        if not isinstance(params, dict) or "task" in params or not message.keys() <= _ENVELOPE_KEYS:
            return False
        name, arguments, rid = params.get("name"), params.get("arguments"), message.get("id")
        op = self.h.registry.get(name) if isinstance(name, str) else None
        if op is None or not op.mcp or not op.read_only or op.toolset not in chosen:
            return False
        if message.get("jsonrpc") != "2.0" or isinstance(rid, bool) or not isinstance(rid, str | int):
            return False
        if arguments is not None and not isinstance(arguments, dict):
            return False
        try:
            version = await self._version(Request(scope), message, arguments)
            if version is None:
                return False
            sdk_methods.validate_client_request("tools/call", version, params)
            types.CallToolRequestParams.model_validate(params, by_name=False)
        except Exception:  # unsure: the SDK answers it, with its own error (nothing was sent, nothing ran)
            return False

        a = with_client(actor, client_from_meta(params.get("_meta")))
        result = await self._call(a, op.name, dict(arguments or {}))
        try:
            dumped = sdk_methods.serialize_server_result("tools/call", version, result)
        except ValidationError:  # a fault of ours, answered as the SDK answers it (the detail stays in the log)
            log.exception("tools/call %s returned an invalid result", op.name)
            error = {"code": types.INTERNAL_ERROR, "message": "Handler returned an invalid result"}
            status = (
                ERROR_CODE_HTTP_STATUS.get(types.INTERNAL_ERROR, 200) if version in MODERN_PROTOCOL_VERSIONS else 200
            )
            await _send_json(send, orjson.dumps({"jsonrpc": "2.0", "id": rid, "error": error}), status)
            self.answered += 1
            return True
        if version in MODERN_PROTOCOL_VERSIONS:
            if dumped.get("resultType") is None:
                dumped["resultType"] = "complete"
            meta = dumped.get("_meta")
            if meta is None or (isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None):
                dumped["_meta"] = {**(meta or {}), SERVER_INFO_META_KEY: self.server.server_info_stamp}
        await _send_json(send, _envelope(rid, dumped))
        self.answered += 1
        return True

    async def _version(self, request: Request, message: dict[str, Any], arguments: Any) -> str | None:
        """The protocol version the SDK would serve this request at, once every check it makes has passed."""
        if await self.security.validate_request(request, is_post=True) is not None:
            return None
        if not check_accept_headers(request)[0]:
            return None
        version = request.headers.get("mcp-protocol-version")
        if version in HANDSHAKE_PROTOCOL_VERSIONS:
            content_type = request.headers.get("content-type", "")
            parts = [part.strip() for part in content_type.split(";")[0].split(",")]
            return version if "application/json" in parts else None
        if version not in MODERN_PROTOCOL_VERSIONS:
            return None
        if find_duplicated_routing_header(request.headers.items()) is not None:
            return None
        verdict = classify_inbound_request(message, headers=dict(request.headers))
        if not isinstance(verdict, InboundModernRoute):
            return None
        if arguments or any(h.startswith("mcp-param-") for h in request.headers):
            op = self.h.registry.get(message["params"]["name"])
            schema = tool_definition(op).input_schema if op is not None else None
            if schema is not None and validate_mcp_param_headers(schema, arguments or {}, request.headers) is not None:
                return None
        return verdict.protocol_version

    async def _call(self, actor: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The call's result on the wire before the version's sieve: what `mcp_server`'s tools/call handler returns."""
        try:
            result = await invoke_tool(self.h, actor, name, arguments, self.threaded)
            return _tool_result(result.model_dump(mode="json", exclude_none=True))
        except HarmoniaError as error:
            return _error(error).model_dump(by_alias=True, mode="json", exclude_none=True)
        except Exception:  # invoke never raises anything else; this is the last line before a -32603
            request_id = actor.request_id or uuid.uuid4().hex[:12]
            log.exception("tool %s failed outside the registry (request %s)", name, request_id)
            failed = HarmoniaError(f"'{name}' failed unexpectedly. Quote request id {request_id} to support.")
            return _error(failed).model_dump(by_alias=True, mode="json", exclude_none=True)


async def _send_json(send: Send, body: bytes, status: int = 200) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _envelope(rid: str | int, result: dict[str, Any]) -> bytes:
    """The JSON-RPC response as the SDK's transports write it. The 2026 era dumps the envelope with `exclude_none`
    and the 2025 era with `exclude_unset`; neither touches the values inside `result` (a dict), so for an envelope
    of three members that are never null, one orjson serialisation is the same document in both."""
    return orjson.dumps({"jsonrpc": "2.0", "id": rid, "result": result})
