"""The `harmonia` executable (pyproject's entry point).

AI clients spawn `harmonia mcp` for every conversation and wait for it, so that exact command goes straight to the
stdio server without building the Typer app (Typer and Click are a twentieth of the stdio start). Every other
command, `harmonia mcp --help` included, is the Typer app of `cli.py`, unchanged.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["configure_logging", "main"]


class _OneLine(logging.Formatter):
    """The command line is a caller like any other: it gets the request id, never a stack trace."""

    def formatException(self, ei: Any) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).rstrip()


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLine("harmonia: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def _stdio_toolsets(argv: list[str]) -> tuple[bool, str | None]:
    """`harmonia mcp`, `harmonia mcp --toolsets X` or `--toolsets=X`: (is that command, the toolsets given)."""
    if argv[:1] != ["mcp"]:
        return False, None
    rest = argv[1:]
    if not rest:
        return True, None
    if len(rest) == 2 and rest[0] == "--toolsets":
        return True, rest[1]
    if len(rest) == 1 and rest[0].startswith("--toolsets="):
        return True, rest[0].split("=", 1)[1]
    return False, None


def main() -> None:
    fast, toolsets = _stdio_toolsets(sys.argv[1:])
    if fast:
        from .mcp_stdio import exit_now, run_stdio

        configure_logging()
        run_stdio(toolsets)
        exit_now()
    from .cli import main as cli_main

    cli_main()
