"""`harmonia mcp`: MCP over stdio. The token comes from `HARMONIA_TOKEN`, read once at start."""

from __future__ import annotations

import sys
from typing import NoReturn

import anyio

from ..config import get_settings
from ..db import Database
from ..errors import HarmoniaError
from ..services.tenancy import authenticate


def run_stdio() -> None:
    settings = get_settings()
    db = Database(settings.database_url)
    try:
        actor = authenticate(db, settings.token, channel="mcp")
    except HarmoniaError as error:
        sys.stderr.write(f"harmonia mcp: {error.message} (set HARMONIA_TOKEN)\n")
        raise SystemExit(2) from None

    from mcp.server.stdio import stdio_server

    from .mcp_server import build_server

    server = build_server(db, actor=actor)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        db.dispose()  # writes the queued read audits


def exit_now() -> NoReturn:
    """End the process at once, once everything it owes is written.

    The client closed stdin and waits for the process to go (the SDK's client up to 2 s, then it kills it). By now
    the database is disposed and the read audits are written; what is left is the interpreter tearing down a few
    hundred modules and their objects one by one, which took longer than the whole conversation's last answer.
    """
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
