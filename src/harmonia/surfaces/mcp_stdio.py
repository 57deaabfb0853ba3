"""`harmonia mcp`: MCP over stdio (to be built with the MCP server)."""

from __future__ import annotations

import sys


def run_stdio() -> None:
    sys.stderr.write("harmonia mcp: the stdio MCP server is not built yet\n")
    raise SystemExit(2)
