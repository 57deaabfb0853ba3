"""Data access for a workspace's own tools: its secrets (vault ciphertext), HTTP tools, upstream MCP servers, and
this installation's instance id (the name it signs a routed call's hop list with)."""

from __future__ import annotations

import secrets as _random
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import Actor, Database, UnitOfWork
from ..errors import Conflict, InvalidArguments, NotFound
from ..ids import new_id
from ..models import Installation, Tenant, TenantSecret, TenantTool, Upstream
from ..vault import Vault, digest

__all__ = [
    "CUSTOM_TOOLSET",
    "add_upstream",
    "define_tool",
    "delete_secret",
    "delete_tool",
    "instance_id",
    "list_secrets",
    "list_tools",
    "list_upstreams",
    "remove_upstream",
    "rotate_secrets",
    "secret_values",
    "set_secret",
    "set_tool_hosts",
    "tenant_toolsets",
    "tool_hosts",
]

CUSTOM_TOOLSET = "custom"  # a workspace's HTTP tools; each upstream is a toolset of its own name
INSTANCE_KEY = "instance_id"


def instance_id(db: Database) -> str:
    """This installation's name in a routed call's hop list (`harmonia:1a2b3c4d`): random, made once per install and
    kept in the `installation` table, so two servers sharing a database are one instance and two installs never
    collide."""
    with db.system_session(write=False) as s:
        found = s.scalar(select(Installation.value).where(Installation.key == INSTANCE_KEY))
    if found:
        return str(found)
    try:
        with db.system_session() as s:
            s.add(Installation(key=INSTANCE_KEY, value=f"harmonia:{_random.token_hex(4)}", created_at=db.clock.now()))
    except IntegrityError:
        pass  # another process made it first: read theirs
    with db.system_session(write=False) as s:
        return str(s.scalar(select(Installation.value).where(Installation.key == INSTANCE_KEY)))


# ---- secrets


def set_secret(uow: UnitOfWork, vault: Vault, name: str, host: str, value: str) -> TenantSecret:
    """Store (or replace) a secret: only its ciphertext and digest are kept."""
    ciphertext = vault.encrypt(value)  # refuses first, clearly, when the server has no vault key
    row = uow.session.scalar(select(TenantSecret).where(TenantSecret.name == name))
    if row is None:
        row = TenantSecret(
            id=new_id("tenant_secret"), name=name, host=host, ciphertext=ciphertext, digest=digest(value)
        )
        uow.session.add(row)
    else:
        row.host, row.ciphertext, row.digest = host, ciphertext, digest(value)
    uow.session.flush()
    return row


def list_secrets(uow: UnitOfWork) -> list[TenantSecret]:
    return _named_all(uow, TenantSecret)


def delete_secret(uow: UnitOfWork, name: str) -> TenantSecret:
    return _delete_named(uow, TenantSecret, name, "secret")


def secret_values(uow: UnitOfWork, vault: Vault, names: set[str], host: str) -> dict[str, str]:
    """The values of `names`, for a request to `host` only: a secret is never sent anywhere but the host it was
    configured for, whatever a definition says."""
    if not names:
        return {}
    rows = {r.name: r for r in uow.session.scalars(select(TenantSecret).where(TenantSecret.name.in_(sorted(names))))}
    missing = sorted(names - rows.keys())
    if missing:
        raise InvalidArguments(f"secret {missing[0]!r} is not defined in this workspace; an owner sets it first")
    for row in rows.values():
        if row.host.lower() != host.lower():
            raise InvalidArguments(f"secret {row.name!r} may only be sent to {row.host}, not to {host}")
    return {name: vault.decrypt(row.ciphertext) for name, row in rows.items()}


def rotate_secrets(db: Database, vault: Vault) -> int:
    """Re-encrypt every stored secret of every workspace under the first key (after a new key was put in front), one
    workspace per transaction (row-level security lets a unit of work see only its own workspace's rows)."""
    with db.system_session(write=False) as s:
        tenant_ids = list(s.scalars(select(Tenant.id)))
    count = 0
    for tenant_id in tenant_ids:
        actor = Actor(tenant_id=tenant_id, channel="cli", client="harmonia secrets rotate")
        with db.unit_of_work(actor) as uow:
            for row in uow.session.scalars(select(TenantSecret)):
                row.ciphertext = vault.rotate(row.ciphertext)
                count += 1
    return count


# ---- the hosts a workspace's tools may call


def tool_hosts(uow: UnitOfWork) -> list[str]:
    tenant = uow.session.get(Tenant, uow.tenant_id)
    return list((tenant.settings or {}).get("tool_hosts", [])) if tenant else []


def set_tool_hosts(uow: UnitOfWork, hosts: list[str]) -> list[str]:
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None
    tenant.settings = {**(tenant.settings or {}), "tool_hosts": hosts}
    return hosts


# ---- HTTP tools


def define_tool(uow: UnitOfWork, fields: dict[str, Any]) -> tuple[TenantTool, dict[str, Any] | None]:
    """Create or replace the tool named `fields["name"]`; returns it and what it was before (for the audit)."""
    row = uow.session.scalar(select(TenantTool).where(TenantTool.name == fields["name"]))
    before = _tool_dict(row) if row is not None else None
    if row is None:
        row = TenantTool(id=new_id("tenant_tool"), **fields)
        uow.session.add(row)
    else:
        for key, value in fields.items():
            setattr(row, key, value)
    uow.session.flush()
    return row, before


def list_tools(uow: UnitOfWork) -> list[TenantTool]:
    return _named_all(uow, TenantTool)


def delete_tool(uow: UnitOfWork, name: str) -> TenantTool:
    return _delete_named(uow, TenantTool, name, "tool")


def _tool_dict(row: TenantTool) -> dict[str, Any]:
    return {"name": row.name, "method": row.method, "url_template": row.url_template, "scope": row.scope,
            "headers": row.headers, "sends": row.sends}  # fmt: skip


# ---- upstream MCP servers


def add_upstream(uow: UnitOfWork, fields: dict[str, Any]) -> Upstream:
    if uow.session.scalar(select(Upstream.id).where(Upstream.name == fields["name"])) is not None:
        raise Conflict(f"an upstream named {fields['name']!r} exists; remove it first to change it")
    row = Upstream(id=new_id("upstream"), **fields)
    uow.session.add(row)
    uow.session.flush()
    return row


def list_upstreams(uow: UnitOfWork) -> list[Upstream]:
    return _named_all(uow, Upstream)


def remove_upstream(uow: UnitOfWork, name: str) -> Upstream:
    return _delete_named(uow, Upstream, name, "upstream")


def tenant_toolsets(uow: UnitOfWork) -> list[str]:
    """The toolsets this workspace adds to the catalogue: `custom` when it has HTTP tools, and one per upstream."""
    names = [CUSTOM_TOOLSET] if uow.session.scalar(select(TenantTool.id).limit(1)) is not None else []
    return names + [name for name in uow.session.scalars(select(Upstream.name).order_by(Upstream.name))]


_Named = TypeVar("_Named", TenantSecret, TenantTool, Upstream)


def _named_all(uow: UnitOfWork, model: type[_Named]) -> list[_Named]:
    """Every row of a workspace's named things (secrets, tools, upstreams), by name."""
    return list(uow.session.scalars(select(model).order_by(model.name)))


def _delete_named(uow: UnitOfWork, model: type[_Named], name: str, kind: str) -> _Named:
    """Delete the row called `name`, or say which names exist."""
    row = uow.session.scalar(select(model).where(model.name == name))
    if row is None:
        raise NotFound(f"no {kind} named {name!r}; {kind}s are: {_names(_named_all(uow, model))}")
    uow.session.delete(row)
    return row


def _names(rows: list[Any]) -> str:
    return ", ".join(r.name for r in rows) or "(none)"
