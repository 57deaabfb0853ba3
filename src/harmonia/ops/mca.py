"""mca operations (to be filled)."""

from __future__ import annotations

from .registry import Operation

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = []
