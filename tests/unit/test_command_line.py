"""The `harmonia` command keeps SPEC §7's contract, and `harmonia mcp`, which AI clients start for every
conversation, loads only what the stdio server uses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HARMONIA = str(Path(sys.executable).with_name("harmonia"))  # the installed entry point (pyproject)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HARMONIA, *args], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


def test_harmonia_help_lists_every_command_of_the_spec() -> None:
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    for command in ("db", "tenants", "tokens", "seed", "outbound", "serve", "mcp", "worker"):
        assert re.search(rf"\b{command}\b", done.stdout), command


def test_harmonia_mcp_help_describes_the_command_instead_of_starting_the_server() -> None:
    done = _run("mcp", "--help")
    assert done.returncode == 0 and "HARMONIA_TOKEN" in done.stdout


def test_tenants_create_and_tokens_create_print_the_slug_and_the_secret_as_their_last_line(tmp_path: Path) -> None:
    env = dict(os.environ, HARMONIA_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    assert _run("db", "upgrade", env=env).returncode == 0
    tenant = _run("tenants", "create", "Acme Funding", "--owner-email", "owner@acme.test", env=env)
    slug = tenant.stdout.strip().splitlines()[-1]
    assert tenant.returncode == 0 and slug == "acme-funding"
    token = _run("tokens", "create", "--tenant", slug, "--user", "owner@acme.test", "--scopes", "mcp:read", env=env)
    assert token.returncode == 0 and token.stdout.strip().splitlines()[-1].startswith("hm_")
    refused = _run("mcp", env=dict(env, HARMONIA_TOKEN="hm_bad"))
    assert refused.returncode == 2 and "HARMONIA_TOKEN" in refused.stderr


def test_the_stdio_server_loads_nothing_that_only_other_commands_or_sends_use() -> None:
    # What `harmonia mcp` imports up to its first tools/list (launch.py's path), in a fresh interpreter. (Click and
    # uvicorn are the MCP SDK's own imports.)
    code = (
        "import sys\n"
        "from harmonia.surfaces import launch, mcp_stdio, mcp_server\n"
        "import mcp.server.stdio\n"
        "from harmonia.ops import build_registry, common\n"
        "[mcp_server.tool_definition(op) for op in build_registry().mcp_tools()]\n"
        "print(common._zones.cache_info().currsize)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    zones_listed, *modules = done.stdout.split()
    assert zones_listed == "0"  # the ~600-file time-zone listing waits for a time zone to check
    unused = {"typer", "rich", "httpx", "phonenumbers", "jinja2", "faker", "argon2", "alembic",
              "sqlalchemy.dialects.postgresql", "harmonia.surfaces.cli", "harmonia.surfaces.rest",
              "harmonia.surfaces.web", "harmonia.seed"}  # fmt: skip
    assert sorted(unused & set(modules)) == []


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # bound, never listening: connecting is refused at once
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_missing_or_unreachable_database_is_one_line_saying_what_to_do_and_exit_2(tmp_path: Path) -> None:
    """AI clients show a failed `harmonia mcp`'s stderr to the person: one line they can act on, not a traceback."""
    token = "hm_tn_01ARZ3NDEKTSV4RRFFQ6_abcdefghijklmnopqrstuvwxyz0123"  # well-formed: the database is asked
    missing_folder = f"sqlite:///{tmp_path / 'no-such-folder' / 'harmonia.db'}"
    unreachable = f"postgresql+psycopg://harmonia_app@127.0.0.1:{_closed_port()}/harmonia"
    cases = [(["mcp"], missing_folder, "does not exist"), (["mcp"], unreachable, "cannot use the database"),
             (["worker", "--once"], missing_folder, "does not exist"),
             (["serve", "--port", str(_closed_port())], unreachable, "cannot use the database")]  # fmt: skip
    for command, url, says in cases:
        done = _run(*command, env=dict(os.environ, HARMONIA_DATABASE_URL=url, HARMONIA_TOKEN=token))
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (command, url, done.stderr[-2000:])
        assert says in lines[0] and "HARMONIA_DATABASE_URL" in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "no-such-folder").exists()  # nothing was created on the way
