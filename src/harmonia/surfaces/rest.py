"""The REST API under /api/v1 and its OpenAPI document at /api/openapi.json (to be built)."""

from __future__ import annotations

from starlette.applications import Starlette

__all__ = ["install"]


def install(app: Starlette) -> None:
    """Add this surface's routes, middleware and lifespan hooks to `app`."""
