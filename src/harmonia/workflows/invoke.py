"""The one place a workflow step calls an operation. Every step goes through here, as the `workflow` channel, so the
scope check, the gate, the audit and the tenant wall apply to automation exactly as to a person or an agent.

(When `invoke()` changes its signature — the composition root — this function is the only one to adapt.)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..db import Actor, Database

__all__ = ["run_operation"]


def run_operation(db: Database, actor: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run operation `name` for a workflow step; raises `HarmoniaError` (e.g. `OutboundBlocked`) like any caller."""
    from ..ops import registry  # the registry sits above the workflow definitions; only the engine reaches it

    assert actor.channel == "workflow"
    result: BaseModel = registry().invoke(db, actor, name, arguments)
    return result.model_dump(mode="json", exclude_none=True)
