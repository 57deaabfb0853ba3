"""A workspace's own tools (SPEC §12), managed by its owner over REST and the command line — never over MCP (mcp=False:
an agent cannot give itself new tools, new hosts or new secrets).

- Secrets: write-only. `secrets_set` stores a value in the vault bound to one host; no answer ever carries it back.
- Tool hosts: the hosts this workspace's HTTP tools may call (an owner's list; the egress guard still applies).
- HTTP tools: `custom_tools_define` — a JSON Schema input (no remote `$ref`), an https URL template on an allowed host
  (placeholders only in the path and query), a method, headers that name secrets as `{secret:NAME}`, a timeout ≤ 10 s,
  a response cap, the scope that may call it. Served in the toolset `custom` as `custom_<name>`.
- Upstream MCP servers: `upstreams_add` — its tools join the catalogue as toolset NAME, named NAME_<tool>.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ..errors import InvalidArguments
from ..services import byo as svc
from ..services.byo_calls import PLACEHOLDER, SECRET_REF
from .common import ScopeName
from .registry import CORE, OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS"]

OWNER = frozenset({"owner"})
RESERVED = {CORE, "all", "custom", "automation", "imports", "reports"}
HOST_PATTERN = r"^(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$"
SecretName = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
Host = Field(pattern=HOST_PATTERN, max_length=253)


def _checked_url(url: str, what: str) -> str:
    """An https URL (or http to an address the operator allowed in HARMONIA_EGRESS_ALLOW: a self-hosted intranet),
    with no user name or password in it. The egress guard checks the address again on every call."""
    from ..egress import address_refusal, allowed_networks

    parts = urlsplit(PLACEHOLDER.sub("x", url))
    if not parts.hostname or parts.username or parts.password:
        raise ValueError(f"{what} must be an absolute https URL without a user name or password")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http":
        try:
            ip = ipaddress.ip_address(parts.hostname)
        except ValueError:
            ip = None
        if ip is not None and address_refusal(str(ip), allowed_networks()) is None:
            return url
    raise ValueError(f"{what} must use https (plain http only to an address the operator allows in "
                     "HARMONIA_EGRESS_ALLOW)")  # fmt: skip


def _host(url: str) -> str:
    return (urlsplit(PLACEHOLDER.sub("x", url)).hostname or "").lower()


# ---- secrets


class SecretsSet(InputModel):
    name: str = SecretName
    host: str = Host
    value: str = Field(min_length=1, max_length=4000)


class SecretOut(OutputModel):
    name: str
    host: str
    digest: str


class SecretsList(InputModel):
    pass


class SecretsOut(OutputModel):
    items: list[SecretOut]


class SecretsDelete(InputModel):
    name: str = SecretName


def _secret(row: Any) -> SecretOut:
    return SecretOut(name=row.name, host=row.host, digest=row.digest)


def secrets_set(ctx: OpContext, args: SecretsSet) -> SecretOut:
    row = svc.set_secret(ctx.uow, ctx.db.vault, args.name, args.host.strip("[]").lower(), args.value)
    ctx.audit_target("tenant_secret", row.id, after={"name": row.name, "host": row.host, "digest": row.digest})
    return _secret(row)


def secrets_list(ctx: OpContext, args: SecretsList) -> SecretsOut:
    return SecretsOut(items=[_secret(r) for r in svc.list_secrets(ctx.uow)])


def secrets_delete(ctx: OpContext, args: SecretsDelete) -> SecretOut:
    row = svc.delete_secret(ctx.uow, args.name)
    ctx.audit_target("tenant_secret", row.id, before={"name": row.name, "host": row.host, "digest": row.digest})
    return _secret(row)


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
        _checked_url(self.url, "url")
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
    host = _host(args.url)
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


# ---- upstream MCP servers


class UpstreamsAdd(InputModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,23}$")
    url: str = Field(min_length=8, max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict, max_length=10)
    scope: ScopeName = "mcp:read"
    sending_tools: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]] = Field(
        default_factory=list, max_length=100
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value in RESERVED:
            raise ValueError(f"{value!r} is a toolset of Harmonia's own; choose another name")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if PLACEHOLDER.search(value):
            raise ValueError("url: an upstream's URL has no placeholders")
        return _checked_url(value, "url")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", key) or key.lower() in ("host", "via", "content-length"):
                raise ValueError(f"header {key[:64]!r} cannot be set for an upstream")
        return value


class UpstreamOut(OutputModel):
    name: str
    url: str
    headers: list[str]  # names only: the values are secrets
    scope: str
    sending_tools: list[str]


class UpstreamsOut(OutputModel):
    items: list[UpstreamOut]


class UpstreamsList(InputModel):
    pass


class UpstreamsRemove(InputModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,23}$")


def _upstream(row: Any) -> UpstreamOut:
    return UpstreamOut(name=row.name, url=row.url, headers=sorted(row.headers), scope=row.scope,
                       sending_tools=row.sending_tools)  # fmt: skip


def upstreams_add(ctx: OpContext, args: UpstreamsAdd) -> UpstreamOut:
    host = _host(args.url)
    refs = {}
    for header, value in args.headers.items():  # every static header value is kept in the vault, bound to the host
        secret = f"upstream-{args.name}-{header.lower()}"
        svc.set_secret(ctx.uow, ctx.db.vault, secret, host, value)
        refs[header] = secret
    row = svc.add_upstream(ctx.uow, {"name": args.name, "url": args.url, "headers": refs, "scope": args.scope,
                                     "sending_tools": sorted(set(args.sending_tools))})  # fmt: skip
    ctx.audit_target("upstream", row.id, after={"name": row.name, "url": row.url, "scope": row.scope,
                                                "headers": sorted(refs), "sending_tools": row.sending_tools})  # fmt: skip
    return _upstream(row)


def upstreams_list(ctx: OpContext, args: UpstreamsList) -> UpstreamsOut:
    return UpstreamsOut(items=[_upstream(r) for r in svc.list_upstreams(ctx.uow)])


def upstreams_remove(ctx: OpContext, args: UpstreamsRemove) -> UpstreamOut:
    row = svc.remove_upstream(ctx.uow, args.name)
    for secret in row.headers.values():
        svc.delete_secret(ctx.uow, secret)
    ctx.audit_target("upstream", row.id, before={"name": row.name, "url": row.url})
    return _upstream(row)


def _op(name: str, title: str, description: str, input: Any, output: Any, handler: Any, rest: tuple[str, str], *,
        read_only: bool = False, destructive: bool = False) -> Operation:  # fmt: skip
    return Operation(name=name, title=title, description=description, scope=Scope.ADMIN, read_only=read_only,
                     idempotent=read_only, destructive=destructive, open_world=False, mcp=False, roles=OWNER,
                     input=input, output=output, handler=handler, rest=rest)  # fmt: skip


OPERATIONS = [
    _op("secrets_set", "Set a secret", "Store a secret value for this workspace's tools, bound to the one host it "
        "may be sent to. Write-only: no answer ever shows the value, only its digest.", SecretsSet, SecretOut,
        secrets_set, ("POST", "/secrets")),
    _op("secrets_list", "List secrets", "The workspace's secrets: names, hosts and digests, never values.",
        SecretsList, SecretsOut, secrets_list, ("GET", "/secrets"), read_only=True),
    _op("secrets_delete", "Delete a secret", "Delete a secret; tools that refer to it fail until it is set again.",
        SecretsDelete, SecretOut, secrets_delete, ("DELETE", "/secrets/{name}"), destructive=True),
    _op("tool_hosts_set", "Set the tool hosts", "The hosts this workspace's HTTP tools may call (replaces the list).",
        ToolHostsSet, ToolHostsOut, tool_hosts_set, ("PUT", "/tool-hosts")),
    _op("custom_tools_define", "Define an HTTP tool", "Create or replace an HTTP endpoint of the workspace served as "
        "MCP tool custom_<name> (toolset custom): JSON Schema input, https URL template on a tool host, headers "
        "naming secrets as {secret:NAME}, timeout ≤ 10 s, response cap, scope.", CustomToolsDefine, ToolOut,
        custom_tools_define, ("POST", "/custom-tools")),
    _op("custom_tools_list", "List HTTP tools", "The workspace's HTTP tools as defined (secrets by name only).",
        CustomToolsList, ToolsOut, custom_tools_list, ("GET", "/custom-tools"), read_only=True),
    _op("custom_tools_delete", "Delete an HTTP tool", "Remove an HTTP tool from the workspace's catalogue.",
        CustomToolsDelete, ToolOut, custom_tools_delete, ("DELETE", "/custom-tools/{name}"), destructive=True),
    _op("upstreams_add", "Add an upstream MCP server", "Serve another MCP server's tools to this workspace as "
        "toolset NAME (tools NAME_<tool>) under the chosen scope; static header values go to the vault.",
        UpstreamsAdd, UpstreamOut, upstreams_add, ("POST", "/upstreams")),
    _op("upstreams_list", "List upstream MCP servers", "The workspace's upstream MCP servers (header names only).",
        UpstreamsList, UpstreamsOut, upstreams_list, ("GET", "/upstreams"), read_only=True),
    _op("upstreams_remove", "Remove an upstream MCP server", "Remove an upstream and its stored header secrets.",
        UpstreamsRemove, UpstreamOut, upstreams_remove, ("DELETE", "/upstreams/{name}"), destructive=True),
]  # fmt: skip
