"""The operations registry, assembled from an explicit list of modules (no registration by import side effect).

The MCP catalogue is the set of operations marked `mcp=True`; its `core` toolset is exactly the 37 tools of SPEC §3.
"""

from __future__ import annotations

from . import (
    accounts,
    activities,
    admin,
    automation,
    byo,
    byo_tools,
    comms,
    contacts,
    deals,
    deletes,
    drafts,
    imports,
    lender_book,
    mca,
    records,
    reports,
    reports_toolset,
    search,
    timeline,
    tokens,
)
from .registry import OpContext, Operation, Registry, Scope

__all__ = ["OpContext", "Operation", "Registry", "Scope", "build_registry"]

_MODULES = (
    search,
    contacts,
    accounts,
    deals,
    activities,
    mca,
    lender_book,
    reports,
    records,
    comms,
    drafts,
    admin,
    tokens,
    timeline,
    deletes,
    imports,
    automation,
    byo,
    byo_tools,
    reports_toolset,
)


def build_registry() -> Registry:
    """Every operation, in a fixed order. Built once per process by `harmonia.bootstrap.bootstrap()`."""
    return Registry(op for module in _MODULES for op in module.OPERATIONS)
