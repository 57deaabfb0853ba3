"""The `harmonia` command line (SPEC §7). Scripts depend on it: the commands, their options, and that `tenants
create` and `tokens create` print the slug / the secret as their *last line*. Errors go to stderr, exit code 2."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ..config import get_settings
from ..errors import HarmoniaError
from .cli_byo import secrets_app, upstreams_app
from .cli_imports import export_command, import_app
from .launch import SERVER_LOG_CONFIG, check_database, configure_logging

if TYPE_CHECKING:
    from ..bootstrap import Harmonia
    from ..db import Database

app = typer.Typer(
    help="Harmonia, the MCP-native CRM.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
tenants_app = typer.Typer(help="Workspaces.", no_args_is_help=True)
tokens_app = typer.Typer(help="Access tokens.", no_args_is_help=True)
seed_app = typer.Typer(help="Demo data.", no_args_is_help=True)
users_app = typer.Typer(help="People who sign in to the web UI.", no_args_is_help=True)
ops_app = typer.Typer(help="Run any operation of the registry (as the workspace owner).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(tokens_app, name="tokens")
app.add_typer(seed_app, name="seed")
app.add_typer(users_app, name="users")
app.add_typer(ops_app, name="ops")
app.add_typer(import_app, name="import")
app.add_typer(upstreams_app, name="upstreams")
app.add_typer(secrets_app, name="secrets")
app.command("export")(export_command)

__all__ = ["app", "main"]


def _database() -> Database:
    return _root().db


_ROOTS: list[Harmonia] = []


def _root() -> Harmonia:
    """The composition root of this command (one per process; closed when the command ends)."""
    if not _ROOTS:
        import atexit

        from ..bootstrap import bootstrap

        _ROOTS.append(bootstrap())
        atexit.register(_ROOTS[0].close)
    return _ROOTS[0]


def _fail(error: HarmoniaError) -> None:
    typer.echo(f"error: {error.message}", err=True)
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database at HARMONIA_DATABASE_URL."""
    from ..migrate import upgrade

    upgrade()
    typer.echo(f"database is at the latest schema ({_redact(get_settings().database_url)})")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="workspace name")],
    owner_email: Annotated[str | None, typer.Option("--owner-email", help="the owner's email")] = None,
    timezone: Annotated[str, typer.Option(help="IANA timezone")] = "America/New_York",
) -> None:
    """Create a workspace (outbound off). Prints the new slug as the last line."""
    from ..services.tenancy import create_tenant

    try:
        tenant, owner = create_tenant(_database(), name, owner_email=owner_email, timezone=timezone)
    except HarmoniaError as e:
        _fail(e)
        return
    if owner:
        typer.echo(f"owner: {owner.email} ({owner.id})")
    typer.echo("outbound: off (turn it on with `harmonia outbound on --tenant SLUG`)")
    typer.echo(tenant.slug)


@users_app.command("password")
def users_password(
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    user: Annotated[str, typer.Option("--user", help="the user's email")],
) -> None:
    """Set a person's web UI password (read from standard input, or asked for twice on a terminal)."""
    import sys

    from ..services.people import set_password

    if sys.stdin.isatty():
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        person = set_password(_database(), tenant, user, password)
    except HarmoniaError as e:
        _fail(e)
        return
    typer.echo(f"password set for {person.email} ({person.role}) in {tenant}")


@tokens_app.command("create")
def tokens_create(
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    user: Annotated[str, typer.Option("--user", help="the user's email")],
    scopes: Annotated[str, typer.Option("--scopes", help="comma separated: mcp:read,mcp:write,mcp:comms,mcp:admin")],
    name: Annotated[str | None, typer.Option("--name", help="a name to recognise the token by")] = None,
) -> None:
    """Create an access token. Prints the secret (shown only once) as the last line."""
    from ..services.people import person_at_server

    h = _root()
    try:
        person = person_at_server(h.db, tenant, user)
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        issued = h.invoke(person, "tokens_create", {"name": name or f"{user.strip().lower()} token", "scopes": wanted})
    except HarmoniaError as e:
        _fail(e)
        return
    typer.echo(f"token {issued.id} ({issued.name}) scopes: {','.join(issued.scopes)}", err=True)
    typer.echo(issued.secret)


@seed_app.command("demo")
def seed_demo(
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    scale: Annotated[int, typer.Option("--scale", help="number of contacts")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same data)")] = 42,
) -> None:
    """Deterministic, realistic MCA demo data."""
    from ..seed import seed_demo as run_seed

    try:
        summary = run_seed(_database(), tenant, scale=scale, seed=seed, progress=sys.stderr.isatty() or scale >= 50_000)
    except HarmoniaError as e:
        _fail(e)
        return
    typer.echo(json.dumps(summary))


@app.command("outbound")
def outbound(
    action: Annotated[str, typer.Argument(help="on | off | status")],
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    reason: Annotated[str | None, typer.Option("--reason", help="why (kept in the audit log)")] = None,
) -> None:
    """The outbound switch, as the workspace owner at the server (through the registry, like every channel)."""
    from ..services.tenancy import get_tenant, owner_actor

    if action not in ("on", "off", "status"):
        typer.echo("error: action must be on, off or status", err=True)
        raise typer.Exit(2)
    h = _root()
    try:
        t = get_tenant(h.db, tenant)
        owner = owner_actor(h.db, t.id, channel="cli")
        if action == "status":
            state = h.invoke(owner, "settings_get", {})
            changed = f" (changed {state.outbound_changed_at:%Y-%m-%d %H:%M} UTC)" if state.outbound_changed_at else ""
            typer.echo(f"outbound is {'on' if state.outbound_enabled else 'off'} for {t.slug}{changed}")
            return
        result = h.invoke(owner, "outbound_set", {"enabled": action == "on",
                                                  "reason": reason or f"harmonia outbound {action}"})  # fmt: skip
    except HarmoniaError as e:
        _fail(e)
        return
    typer.echo(f"outbound is {'on' if result.outbound_enabled else 'off'} for {t.slug}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind [default: HARMONIA_HOST or 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: HARMONIA_PORT or 8765]")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Web UI, REST API and MCP over Streamable HTTP."""
    import os

    import uvicorn

    settings = get_settings()
    # The app (in every worker) reads its address from the environment: its links and OAuth resource follow it.
    os.environ["HARMONIA_HOST"] = host = host or settings.host
    os.environ["HARMONIA_PORT"] = str(port := port or settings.port)
    get_settings.cache_clear()
    check_database(connect=True)
    uvicorn.run(
        "harmonia.surfaces.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=SERVER_LOG_CONFIG,  # applied again in each worker process
        log_level="warning",  # uvicorn's own lines: problems only; "ready" and requests are ours (request_log.py)
        access_log=False,
        proxy_headers=False,
    )


@app.command("mcp")
def mcp_stdio(
    toolsets: Annotated[
        str | None, typer.Option("--toolsets", help="comma separated toolsets (core, …, or all); default core")
    ] = None,
) -> None:
    """MCP over stdio; the token comes from HARMONIA_TOKEN."""
    from .mcp_stdio import exit_now, run_stdio

    check_database(connect=False)
    run_stdio(toolsets)
    exit_now()  # `harmonia mcp` itself is launched by launch.py, which never reaches here


@app.command("worker")
def worker(
    once: Annotated[bool, typer.Option("--once", help="deliver what is due, then exit")] = False,
) -> None:
    """Deliver the outbox (the server also delivers in-process by default)."""
    from .worker import run_worker

    check_database(connect=True)
    run_worker(once=once)


@ops_app.command("call")
def ops_call(
    name: Annotated[str, typer.Argument(help="operation name, e.g. contacts_list")],
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    arguments: Annotated[str, typer.Option("--json", help="arguments as a JSON object")] = "{}",
) -> None:
    """Call an operation as the workspace owner (channel `cli`); prints the JSON result."""
    from ..services.tenancy import get_tenant, owner_actor

    h = _root()
    try:
        args = json.loads(arguments)
    except json.JSONDecodeError as e:
        typer.echo(f"error: --json is not valid JSON ({e.msg})", err=True)
        raise typer.Exit(2) from None
    try:
        t = get_tenant(h.db, tenant)
        result = h.invoke(owner_actor(h.db, t.id, channel="cli"), name, args)
    except HarmoniaError as e:
        _fail(e)
        return
    typer.echo(json.dumps(result.model_dump(mode="json", exclude_none=True), indent=2))


def main() -> None:
    configure_logging()
    app()


if __name__ == "__main__":
    main()
