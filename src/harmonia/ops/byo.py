"""A workspace's own tools (SPEC §12), managed by its owner over REST and the command line — never over MCP (mcp=False:
an agent cannot give itself new tools, new hosts or new secrets).

- Secrets: write-only. `secrets_set` stores a value in the vault bound to one host; no answer ever carries it back.
- HTTP tools and the hosts they may call: `ops/byo_tools.py` (it shares the URL rule and the declaration helper).
- Upstream MCP servers: `upstreams_add` — its tools join the catalogue as toolset NAME, named NAME_<tool>.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ..services import byo as svc
from ..services.byo_calls import PLACEHOLDER
from .common import ScopeName
from .registry import CORE, OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["HOST_PATTERN", "OPERATIONS", "checked_url", "op", "url_host"]

OWNER = frozenset({"owner"})
RESERVED = {CORE, "all", "custom", "automation", "imports", "reports"}
HOST_PATTERN = r"^(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$"
SecretName = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
Host = Field(pattern=HOST_PATTERN, max_length=253)


def checked_url(url: str, what: str) -> str:
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


def url_host(url: str) -> str:
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
        return checked_url(value, "url")

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
    host = url_host(args.url)
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


def op(name: str, title: str, description: str, input: Any, output: Any, handler: Any, rest: tuple[str, str], *,
        read_only: bool = False, destructive: bool = False) -> Operation:  # fmt: skip
    return Operation(name=name, title=title, description=description, scope=Scope.ADMIN, read_only=read_only,
                     idempotent=read_only, destructive=destructive, open_world=False, mcp=False, roles=OWNER,
                     input=input, output=output, handler=handler, rest=rest)  # fmt: skip


OPERATIONS = [
    op("secrets_set", "Set a secret", "Store a secret value for this workspace's tools, bound to the one host it "
        "may be sent to. Write-only: no answer ever shows the value, only its digest.", SecretsSet, SecretOut,
        secrets_set, ("POST", "/secrets")),
    op("secrets_list", "List secrets", "The workspace's secrets: names, hosts and digests, never values.",
        SecretsList, SecretsOut, secrets_list, ("GET", "/secrets"), read_only=True),
    op("secrets_delete", "Delete a secret", "Delete a secret; tools that refer to it fail until it is set again.",
        SecretsDelete, SecretOut, secrets_delete, ("DELETE", "/secrets/{name}"), destructive=True),
    op("upstreams_add", "Add an upstream MCP server", "Serve another MCP server's tools to this workspace as "
        "toolset NAME (tools NAME_<tool>) under the chosen scope; static header values go to the vault.",
        UpstreamsAdd, UpstreamOut, upstreams_add, ("POST", "/upstreams")),
    op("upstreams_list", "List upstream MCP servers", "The workspace's upstream MCP servers (header names only).",
        UpstreamsList, UpstreamsOut, upstreams_list, ("GET", "/upstreams"), read_only=True),
    op("upstreams_remove", "Remove an upstream MCP server", "Remove an upstream and its stored header secrets.",
        UpstreamsRemove, UpstreamOut, upstreams_remove, ("DELETE", "/upstreams/{name}"), destructive=True),

]  # fmt: skip
