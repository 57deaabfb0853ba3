"""`harmonia mcp`: MCP over stdio. The token comes from `HARMONIA_TOKEN`, read once at start."""

from __future__ import annotations

import sys

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
        db.dispose()
