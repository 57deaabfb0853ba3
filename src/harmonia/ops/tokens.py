"""Access-token and workspace operations for the REST API and web UI (mcp=False) (to be filled)."""

from __future__ import annotations

from .registry import Operation

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = []
