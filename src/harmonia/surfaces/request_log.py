"""The server log of `harmonia serve`: one line per HTTP request, and the request id every surface shows its user.

`RequestLog` is the outermost layer of the ASGI app. It gives each request an id — sent back as `X-Request-Id`, and
the id that error pages, problem+json answers and MCP tool errors quote — and logs one line once the answer is out,
in logfmt (key=value, what log shippers parse without a pattern), on the `harmonia.access` logger:

    method=GET path=/deals/op_7Q… status=200 duration_ms=12.4 request_id=5f2a91c03e7d client=127.0.0.1

The path is logged without its query string (OAuth codes and states, tokens pasted into links travel there) and
without the secret of an invitation link. A failure nothing else caught is logged on `harmonia.server` with its
traceback and the same request id; the caller gets a sentence quoting that id (app.py's 500 handler).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

__all__ = ["REQUEST_ID_KEY", "RequestLog", "loggable_path", "new_request_id", "request_id_of"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

REQUEST_ID_KEY = "harmonia.request_id"  # in the ASGI scope
access = logging.getLogger("harmonia.access")
server = logging.getLogger("harmonia.server")
# Path segments that are secrets themselves: an invitation link's token.
_SECRET_SEGMENTS = re.compile(r"^(/invite/)[^/]+")


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


def request_id_of(request: Request | Scope) -> str:
    """This request's id: the one RequestLog gave it (a request that came another way gets one now, kept)."""
    scope = request.scope if isinstance(request, Request) else request
    rid = scope.get(REQUEST_ID_KEY)
    if not isinstance(rid, str):
        rid = scope[REQUEST_ID_KEY] = new_request_id()
    return rid


def loggable_path(path: str) -> str:
    """The path as the log may keep it: no query string ever reaches here, and a secret segment is cut."""
    return _SECRET_SEGMENTS.sub(r"\1…", path)


class RequestLog:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        path = loggable_path(scope.get("path", ""))
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # Starlette's 500 handler has answered (quoting the id); the traceback belongs here
            server.exception("%s %s failed unexpectedly (request_id=%s)", scope.get("method"), path, rid)
            if not status:  # nothing was sent: still a sentence, never a dropped connection
                status = 500
                body = f"Something went wrong on our side. Quote request id {rid} to support.".encode()
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"x-request-id", rid.encode())]})  # fmt: skip
                await send({"type": "http.response.body", "body": body})
        finally:
            client = scope.get("client")
            access.info(
                "method=%s path=%s status=%s duration_ms=%.1f request_id=%s client=%s",
                scope.get("method"), _quoted(path), status or "-", (time.perf_counter() - started) * 1000, rid,
                client[0] if client else "-",
                extra={"http_method": scope.get("method"), "http_path": path, "http_status": status,
                       "request_id": rid},
            )  # fmt: skip


def _quoted(value: str) -> str:
    """logfmt: a value with a space, quote or `=` in it is quoted, and a control character (a decoded `%0A` in a
    path) is escaped — a request can never write a line of its own into the log."""
    value = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value.replace("\\", "\\\\"))
    if value and not re.search(r'[ "=]', value):
        return value
    return '"' + value.replace('"', '\\"') + '"'


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
