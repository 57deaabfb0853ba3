"""Calling a workspace's own tools: an HTTP tool through the egress guard, an upstream MCP server through the SDK's
streamable HTTP client over the guard's async transport. Both answer text for a model, fenced as untrusted.

What never leaves: the caller's token (an upstream gets only the headers its owner configured), a secret for any host
but its own, anything to an address the guard refuses. What never comes back unbounded: a response over its cap, a
call over its timeout (≤ 10 s).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx2
import orjson

from ..errors import HarmoniaError, InvalidArguments
from ..routing import Trace
from ..untrusted import Fence, neutralise

__all__ = ["HttpRequest", "UpstreamTool", "call_upstream", "expand", "list_upstream_tools", "secret_names"]

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
SECRET_REF = re.compile(r"\{secret:([A-Za-z0-9_-]{1,64})\}")
UPSTREAM_TIMEOUT = 10.0
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    host: str
    headers: dict[str, str]
    body: bytes | None


def secret_names(headers: Mapping[str, str]) -> set[str]:
    return {name for value in headers.values() for name in SECRET_REF.findall(value)}


def expand(method: str, template: str, headers: Mapping[str, str], arguments: Mapping[str, Any],
           secrets: Mapping[str, str]) -> HttpRequest:  # fmt: skip
    """The request a tool call makes: template placeholders filled with percent-encoded arguments (a value can never
    add a path segment, a query or a host: "../admin" becomes "..%2Fadmin", "." and ".." alone are refused); the
    remaining arguments as the query (GET, DELETE) or a JSON body; secret references replaced by their values."""
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = arguments.get(name)
        if value is None:
            raise InvalidArguments(f"'{name}' is required (it is part of the tool's URL)", fields=[name])
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        if text in (".", ".."):
            raise InvalidArguments(f"'{name}' cannot be '.' or '..'", fields=[name])
        used.add(name)
        return quote(text, safe="")

    url = PLACEHOLDER.sub(fill, template)
    rest = {k: v for k, v in arguments.items() if k not in used}
    body = None
    if method in ("GET", "DELETE"):
        if rest:
            query = urlencode({k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in rest.items()})
            url += ("&" if "?" in url else "?") + query
    else:
        body = orjson.dumps(rest)
    sent = {k: SECRET_REF.sub(lambda m: secrets[m.group(1)], v) for k, v in headers.items()}
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    return HttpRequest(method=method, url=url, host=urlsplit(url).hostname or "", headers=sent, body=body)


# ---- upstream MCP servers


@dataclass(frozen=True)
class UpstreamTool:
    name: str  # the upstream's own name for it
    title: str | None
    description: str
    input_schema: dict[str, Any]
    read_only: bool
    destructive: bool


def _client(url: str, headers: Mapping[str, str], via: str | None, verify: Any) -> Any:
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    from ..egress import AsyncGuardedTransport

    sent = dict(headers)
    if via:
        sent["Via"] = via
    http = httpx2.AsyncClient(transport=AsyncGuardedTransport(verify=verify), headers=sent, trust_env=False,
                              follow_redirects=False, timeout=UPSTREAM_TIMEOUT)  # fmt: skip
    return http, Client(streamable_http_client(url, http_client=http))


async def list_upstream_tools(url: str, headers: Mapping[str, str], verify: Any = True) -> list[UpstreamTool]:
    """The upstream's tools (every page), as it describes them."""
    http, client = _client(url, headers, None, verify)
    tools: list[UpstreamTool] = []
    try:
        async with http, client as c:
            result = await c.list_tools()
            for tool in result.tools:
                hints = tool.annotations
                tools.append(UpstreamTool(
                    name=tool.name, title=tool.title, description=tool.description or "",
                    input_schema=dict(tool.input_schema or {"type": "object"}),
                    read_only=bool(hints and hints.read_only_hint),
                    destructive=not (hints and hints.destructive_hint is False),
                ))  # fmt: skip
    except Exception as error:
        raise _unreachable(url, error) from None
    return tools


async def call_upstream(url: str, headers: Mapping[str, str], tool: str, arguments: dict[str, Any], trace: Trace,
                        instance: str, upstream: str, source: str, verify: Any = True) -> tuple[bool, str]:  # fmt: skip
    """Call `tool` on the upstream with the trace in `_meta` and `Via`; answers (is_error, text fenced as untrusted)."""
    meta, via = trace.onward(instance, upstream)
    http, client = _client(url, headers, via, verify)
    try:
        async with http, client as c:
            result = await c.call_tool(tool, arguments, read_timeout_seconds=UPSTREAM_TIMEOUT, meta=meta)
    except HarmoniaError:
        raise
    except Exception as error:
        raise _unreachable(url, error) from None
    if result.structured_content is not None and not result.is_error:
        text = orjson.dumps(result.structured_content).decode()
    else:
        text = "\n".join(getattr(block, "text", "") for block in result.content if getattr(block, "type", "") == "text")
    fenced = Fence().mark(text, source) or ""
    return bool(result.is_error), fenced


def clean_description(upstream: str, text: str) -> str:
    """An upstream's own description of a tool, shown to a model: said to come from there, invisible characters
    removed, kept short (every client pays for tools/list)."""
    return f"[{upstream}] " + neutralise(text).strip()[:400]


def _unreachable(url: str, error: BaseException) -> HarmoniaError:
    from ..egress import EgressRefused

    inner = error
    while isinstance(inner, BaseExceptionGroup) and inner.exceptions:
        inner = inner.exceptions[0]
    if isinstance(inner, EgressRefused):
        return inner
    cause = inner.__cause__ or inner.__context__
    if isinstance(cause, EgressRefused):
        return cause
    host = urlsplit(url).hostname
    return HarmoniaError(f"the upstream server at {host} could not be reached or answered badly "
                         f"({type(inner).__name__}); try again later, or ask an owner to check it")  # fmt: skip
