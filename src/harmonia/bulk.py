"""Bulk loads skip the per-row upkeep triggers and catch up with set statements at the end (SQLite).

The search index (`fulltext`) and the activity counters (`counters`) are kept by triggers, so every write path is
covered without code elsewhere. A bulk load — the demo seed, a million rows — pays for that per row: at 100k
contacts the triggers cost 3× what two INSERT … SELECT statements do afterwards. Inside `deferred()` this thread's
inserts skip those triggers (each is guarded by `WHEN row_upkeep()`); the loader then calls the catch-up functions
(`fulltext.index_missing`, `counters.recount`). Other threads and processes are unaffected: the flag is this
thread's, and SQLite runs a trigger on the thread that issued the statement.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["deferred", "register"]

_local = threading.local()


def _row_upkeep() -> int:
    return 0 if getattr(_local, "deferred", False) else 1


@contextmanager
def deferred() -> Iterator[None]:
    """Rows this thread inserts inside the block skip the upkeep triggers; catch up afterwards."""
    outer = getattr(_local, "deferred", False)
    _local.deferred = True
    try:
        yield
    finally:
        _local.deferred = outer


def register(dbapi_connection: Any) -> None:
    """Make `row_upkeep()` callable from SQL (1 normally, 0 inside `deferred()` on this thread)."""
    dbapi_connection.create_function("row_upkeep", 0, _row_upkeep)
