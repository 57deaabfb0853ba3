"""The `harmonia` executable (pyproject's entry point).

AI clients spawn `harmonia mcp` for every conversation and wait for it, so that exact command goes straight to the
stdio server without building the Typer app (Typer and Click are a twentieth of the stdio start). Every other
command, `harmonia mcp --help` included, is the Typer app of `cli.py`, unchanged.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["SERVER_LOG_CONFIG", "check_database", "configure_logging", "database_problem", "main"]

# `harmonia serve`'s log (uvicorn applies it in every worker process): one line per record, with time and logger —
# `harmonia.server` says when it is ready and what failed, `harmonia.access` has a line per request (request_log.py).
SERVER_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}},
    "loggers": {
        "harmonia": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "uvicorn": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
    },
}


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


def redact(url: str) -> str:
    """A database URL fit to print: no user or password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


def database_problem(url: str, *, connect: bool) -> str | None:
    """What keeps the database at `url` from being used, as one line saying what to do; None when it looks fine.

    Without `connect`, only what costs nothing is checked (a SQLite file and its folder exist: opening a missing
    one would leave an empty file behind); with it, a connection is made and the schema's version read."""
    fix = "set HARMONIA_DATABASE_URL to your database"
    if url.startswith("sqlite") and ":memory:" not in url:
        path = Path(url.split("///", 1)[1]) if "///" in url else None
        if path is not None and not path.parent.is_dir():
            return (f"the database folder {path.parent} does not exist ({redact(url)}); {fix}, or create a new "
                    "database there with `harmonia db upgrade`")  # fmt: skip
        if path is not None and not path.exists():
            return f"there is no database at {path}; {fix}, or create one with `harmonia db upgrade`"
    if not connect:
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(url, connect_args={} if url.startswith("sqlite") else {"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT version_num FROM alembic_version"))
    except DBAPIError as error:
        return database_error_line(url, error)
    finally:
        engine.dispose()
    return None


def database_error_line(url: str, error: Exception) -> str:
    """A database error met at start, as one line: the driver's first line, and what to do."""
    orig = getattr(error, "orig", error)
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        return f"the database at {redact(url)} has no Harmonia schema yet; run `harmonia db upgrade` first"
    return (f"cannot use the database at {redact(url)} ({first}); start it or set HARMONIA_DATABASE_URL to a "
            "reachable one")  # fmt: skip


def check_database(*, connect: bool) -> None:
    """Exit 2 with one line on standard error when the configured database cannot be used (see database_problem)."""
    from ..config import get_settings

    problem = database_problem(get_settings().database_url, connect=connect)
    if problem:
        fail(problem)


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"harmonia: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)


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
        check_database(connect=False)  # a missing SQLite file; an unreachable server fails below, just as clearly
        try:
            run_stdio(toolsets)
        except Exception as error:
            _database_failure(error)
            raise
        exit_now()
    from .cli import main as cli_main

    try:
        cli_main()
    except Exception as error:
        _database_failure(error)
        raise


def _database_failure(error: Exception) -> None:
    """A database that is missing, unreachable or without its schema: one line and exit 2, not a traceback. Anything
    else is raised as it was."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    missing_table = isinstance(error, ProgrammingError) and "does not exist" in str(error.orig)
    # a driver's own error, raised where a connection is made outside SQLAlchemy's wrapping (psycopg's pool)
    driver = type(error).__name__ == "OperationalError" and type(error).__module__.split(".")[0] in (
        "psycopg",
        "sqlite3",
    )
    if isinstance(error, OperationalError) or missing_table or driver:
        from ..config import get_settings

        fail(database_error_line(get_settings().database_url, error))
