"""`harmonia mcp`: MCP over stdio. The token comes from `HARMONIA_TOKEN`; it is checked at start (a bad one ends the
process with one clear line) and again on every request (revoked or demoted: refused at once). Toolsets come from
`--toolsets` or `HARMONIA_TOOLSETS` (default `core`)."""

from __future__ import annotations

import sys
from typing import NoReturn

import anyio

from ..bootstrap import bootstrap
from ..errors import HarmoniaError
from ..services.tenancy import authenticate


def run_stdio(toolsets: str | None = None) -> None:
    h = bootstrap()
    token = h.settings.token
    try:
        first = authenticate(h.db, token, channel="mcp")
        byo = h.byo
        own = (lambda: byo.toolsets(first)) if byo is not None else None
        chosen = h.registry.choose_toolsets(toolsets or h.settings.toolsets, own)
    except HarmoniaError as error:
        sys.stderr.write(f"harmonia mcp: {error.message} (set HARMONIA_TOKEN; toolsets via --toolsets)\n")
        h.close()
        raise SystemExit(2) from None

    from mcp.server.stdio import stdio_server

    from .mcp_server import build_server

    server = build_server(h, credential=lambda: authenticate(h.db, token, channel="mcp"), toolsets=chosen)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        h.close()  # writes the queued read audits


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
