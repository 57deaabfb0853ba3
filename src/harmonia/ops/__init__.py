"""The operations registry, assembled from an explicit list of modules (no registration by import side effect).

The MCP catalogue is the set of operations marked `mcp=True`: exactly the 37 tools of SPEC §3.
"""

from __future__ import annotations

from functools import lru_cache

from . import (
    accounts,
    activities,
    admin,
    automation,
    comms,
    contacts,
    deals,
    deletes,
    mca,
    records,
    reports,
    search,
    timeline,
    tokens,
)
from .registry import OpContext, Operation, Registry, Scope

__all__ = ["OpContext", "Operation", "Registry", "Scope", "registry"]

_MODULES = (
    search,
    contacts,
    accounts,
    deals,
    activities,
    mca,
    reports,
    records,
    comms,
    admin,
    tokens,
    timeline,
    deletes,
    automation,
)


@lru_cache(maxsize=1)
def registry() -> Registry:
    return Registry(op for module in _MODULES for op in module.OPERATIONS)
