"""`harmonia seed demo` (to be built)."""

from __future__ import annotations

from typing import Any

from .db import Database


def seed_demo(db: Database, tenant: str, *, scale: int = 500, seed: int = 42, progress: bool = False) -> dict[str, Any]:
    raise NotImplementedError
