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


def main() -> None:
    if sys.argv[1:] == ["mcp"]:
        from .mcp_stdio import exit_now, run_stdio

        configure_logging()
        run_stdio()
        exit_now()
    from .cli import main as cli_main

    cli_main()
