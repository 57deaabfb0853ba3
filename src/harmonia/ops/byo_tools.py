"""A workspace's HTTP tools (SPEC §12), owner only, never over MCP: the hosts they may call (`tool_hosts_set`) and the
tools themselves (`custom_tools_define`, `_list`, `_delete`), served in the toolset `custom` as `custom_<name>`.

A definition: a JSON Schema input (validated; no remote `$ref`), an https URL template on one of the workspace's tool
hosts with placeholders only in the path and query, a method, headers that name secrets as `{secret:NAME}` (each
secret bound to that same host), a timeout ≤ 10 s, a response cap, and the scope that may call it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import InvalidArguments
from ..services import byo as svc
from ..services.byo_calls import PLACEHOLDER, SECRET_REF
from .byo import HOST_PATTERN, checked_url, op, url_host
from .common import ScopeName
from .registry import OpContext
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS"]


# ---- tool hosts


class ToolHostsSet(InputModel):
    hosts: list[Annotated[str, Field(pattern=HOST_PATTERN, max_length=253)]] = Field(max_length=50)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return sorted({h.strip("[]").lower() for h in value})


class ToolHostsOut(OutputModel):
    hosts: list[str]


def tool_hosts_set(ctx: OpContext, args: ToolHostsSet) -> ToolHostsOut:
    before = svc.tool_hosts(ctx.uow)
    hosts = svc.set_tool_hosts(ctx.uow, args.hosts)
    ctx.audit_target("tenant", ctx.tenant_id, before={"tool_hosts": before}, after={"tool_hosts": hosts})
    return ToolHostsOut(hosts=hosts)


# ---- HTTP tools


class CustomToolsDefine(InputModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    description: str = Field(min_length=1, max_length=1000)
    input_schema: dict[str, Any]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(min_length=8, max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    timeout_seconds: float = Field(default=5.0, gt=0, le=10)
    max_bytes: int = Field(default=65_536, ge=1, le=1_048_576)
    scope: ScopeName = "mcp:read"
    read_only: bool = False
    sends: bool = False  # it sends to people (email, SMS, calls…): mcp:comms, refused while outbound is off

    @field_validator("input_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        import jsonschema  # type: ignore[import-untyped]

        if value.get("type") != "object":
            raise ValueError('input_schema must be a JSON Schema with "type": "object"')
        stack: list[Any] = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if ref is not None and not (isinstance(ref, str) and ref.startswith("#")):
                    raise ValueError("input_schema may only $ref its own definitions ('#/…'); remote $ref is refused")
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as error:
            raise ValueError(f"input_schema is not a valid JSON Schema: {error.message[:200]}") from None
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", key) or key.lower() in ("host", "via", "content-length"):
                raise ValueError(f"header {key[:64]!r} cannot be set by a tool")
        return value

    @model_validator(mode="after")
    def _url(self) -> CustomToolsDefine:
        checked_url(self.url, "url")
        netloc_end = self.url.find("/", self.url.find("//") + 2)
        if PLACEHOLDER.search(self.url[: netloc_end if netloc_end > 0 else len(self.url)]):
            raise ValueError("url: placeholders may only stand in the path or the query, never in the host")
        properties = (self.input_schema.get("properties") or {}).keys()
        missing = [p for p in PLACEHOLDER.findall(self.url) if p not in properties]
        if missing:
            raise ValueError(f"url: placeholder {{{missing[0]}}} is not a property of input_schema")
        return self


class ToolOut(OutputModel):
    name: str
    toolset: str
    description: str
    method: str
    url: str
    headers: dict[str, str]
    scope: str
    read_only: bool
    sends: bool
    timeout_seconds: float
    max_bytes: int


class ToolsOut(OutputModel):
    items: list[ToolOut]


class CustomToolsList(InputModel):
    pass


class CustomToolsDelete(InputModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")


def _tool(row: Any) -> ToolOut:
    return ToolOut(name=f"{svc.CUSTOM_TOOLSET}_{row.name}", toolset=svc.CUSTOM_TOOLSET, description=row.description,
                   method=row.method, url=row.url_template, headers=row.headers, scope=row.scope,
                   read_only=row.read_only, sends=row.sends, timeout_seconds=row.timeout_seconds,
                   max_bytes=row.max_bytes)  # fmt: skip


def custom_tools_define(ctx: OpContext, args: CustomToolsDefine) -> ToolOut:
    host = url_host(args.url)
    allowed = svc.tool_hosts(ctx.uow)
    if host not in allowed:
        raise InvalidArguments(f"{host} is not one of this workspace's tool hosts ({', '.join(allowed) or 'none yet'}"
                               "); an owner adds it with tool_hosts_set first", fields=["url"])  # fmt: skip
    referenced = {n for v in args.headers.values() for n in SECRET_REF.findall(v)}
    secrets = {s.name: s for s in svc.list_secrets(ctx.uow)}
    for name in sorted(referenced):
        if name not in secrets:
            raise InvalidArguments(f"header refers to secret {name!r}, which is not set; set it with secrets_set "
                                   f"(host {host})", fields=["headers"])  # fmt: skip
        if secrets[name].host != host:
            raise InvalidArguments(f"secret {name!r} may only be sent to {secrets[name].host}, not {host}",
                                   fields=["headers"])  # fmt: skip
    fields = {"name": args.name, "description": args.description, "input_schema": args.input_schema,
              "method": args.method, "url_template": args.url, "headers": args.headers,
              "timeout_seconds": args.timeout_seconds, "max_bytes": args.max_bytes,
              "scope": "mcp:comms" if args.sends else args.scope, "read_only": args.read_only and not args.sends,
              "sends": args.sends}  # fmt: skip
    row, before = svc.define_tool(ctx.uow, fields)
    ctx.audit_target("tenant_tool", row.id, before=before,
                     after={"name": row.name, "method": row.method, "url_template": row.url_template,
                            "scope": row.scope, "headers": row.headers, "sends": row.sends})  # fmt: skip
    return _tool(row)


def custom_tools_list(ctx: OpContext, args: CustomToolsList) -> ToolsOut:
    return ToolsOut(items=[_tool(r) for r in svc.list_tools(ctx.uow)])


def custom_tools_delete(ctx: OpContext, args: CustomToolsDelete) -> ToolOut:
    row = svc.delete_tool(ctx.uow, args.name)
    ctx.audit_target("tenant_tool", row.id, before={"name": row.name, "url_template": row.url_template})
    return _tool(row)


OPERATIONS = [
    op("tool_hosts_set", "Set the tool hosts", "The hosts this workspace's HTTP tools may call (replaces the list).",
        ToolHostsSet, ToolHostsOut, tool_hosts_set, ("PUT", "/tool-hosts")),
    op("custom_tools_define", "Define an HTTP tool", "Create or replace an HTTP endpoint of the workspace served as "
        "MCP tool custom_<name> (toolset custom): JSON Schema input, https URL template on a tool host, headers "
        "naming secrets as {secret:NAME}, timeout ≤ 10 s, response cap, scope.", CustomToolsDefine, ToolOut,
        custom_tools_define, ("POST", "/custom-tools")),
    op("custom_tools_list", "List HTTP tools", "The workspace's HTTP tools as defined (secrets by name only).",
        CustomToolsList, ToolsOut, custom_tools_list, ("GET", "/custom-tools"), read_only=True),
    op("custom_tools_delete", "Delete an HTTP tool", "Remove an HTTP tool from the workspace's catalogue.",
        CustomToolsDelete, ToolOut, custom_tools_delete, ("DELETE", "/custom-tools/{name}"), destructive=True),
]  # fmt: skip
