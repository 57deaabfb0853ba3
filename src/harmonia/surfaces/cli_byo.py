"""`harmonia upstreams add|list|remove` (SPEC §12) and `harmonia secrets rotate`: a workspace's upstream MCP servers,
managed at the server as the workspace owner (channel `cli`) through the registry, like every surface."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ..errors import HarmoniaError

__all__ = ["secrets_app", "upstreams_app"]

upstreams_app = typer.Typer(help="Other MCP servers whose tools a workspace serves (SPEC §12).", no_args_is_help=True)
secrets_app = typer.Typer(help="The secrets vault (HARMONIA_SECRETS_KEYS).", no_args_is_help=True)


def _as_owner(tenant: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    from ..bootstrap import bootstrap
    from ..services.tenancy import get_tenant, owner_actor

    h = bootstrap()
    try:
        t = get_tenant(h.db, tenant)
        result = h.invoke(owner_actor(h.db, t.id, channel="cli"), name, args)
        return result.model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]
    except HarmoniaError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        h.close()


@upstreams_app.command("add")
def upstreams_add(
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    name: Annotated[str, typer.Option("--name", help="toolset name; its tools become NAME_<tool>")],
    url: Annotated[str, typer.Option("--url", help="the upstream's MCP endpoint (https)")],
    header: Annotated[list[str] | None, typer.Option("--header", help="K=V, sent to that host only (vault)")] = None,
    scope: Annotated[str, typer.Option("--scope", help="the scope a caller needs for its tools")] = "mcp:read",
    sends: Annotated[str, typer.Option("--sends", help="comma separated tools that send to people")] = "",
) -> None:
    """Register an upstream MCP server for a workspace."""
    headers = {}
    for item in header or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            typer.echo(f"error: --header {key[:40]!r} must be written K=V", err=True)
            raise typer.Exit(2)
        headers[key.strip()] = value
    args = {"name": name, "url": url, "headers": headers, "scope": scope,
            "sending_tools": [s.strip() for s in sends.split(",") if s.strip()]}  # fmt: skip
    out = _as_owner(tenant, "upstreams_add", args)
    typer.echo(f"upstream {out['name']} added: its tools join toolset {out['name']} (scope {out['scope']})")


@upstreams_app.command("list")
def upstreams_list(tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")]) -> None:
    """The workspace's upstreams, one JSON object per line (header names only)."""
    for item in _as_owner(tenant, "upstreams_list", {})["items"]:
        typer.echo(json.dumps(item))


@upstreams_app.command("remove")
def upstreams_remove(
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    name: Annotated[str, typer.Option("--name", help="the upstream's name")],
) -> None:
    """Remove an upstream and its stored header values."""
    _as_owner(tenant, "upstreams_remove", {"name": name})
    typer.echo(f"upstream {name} removed")


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret under the first key of HARMONIA_SECRETS_KEYS (put the new key first, rotate,
    then drop the old key)."""
    from ..bootstrap import bootstrap
    from ..services.byo import rotate_secrets

    h = bootstrap()
    try:
        count = rotate_secrets(h.db, h.db.vault)
    except HarmoniaError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        h.close()
    typer.echo(f"{count} secret(s) re-encrypted under the first key")
