"""The one place a workflow step calls an operation. Every step goes through here, as the `workflow` channel, so the
scope check, the gate, the audit and the tenant wall apply to automation exactly as to a person or an agent.

(When `invoke()` changes its signature — the composition root — this function is the only one to adapt.)
"""

from __future__ import annotations

from typing import Any, Protocol

from ..db import Actor, Database

__all__ = ["Runtime", "run_operation"]


class Runtime(Protocol):
    """What the engine needs from the composition root (`harmonia.bootstrap.Harmonia`): the database, and invoke."""

    @property
    def db(self) -> Database: ...

    def invoke(
        self, actor: Actor, name: str, arguments: dict[str, Any] | None = None, *, strict: bool = False
    ) -> Any: ...


def run_operation(rt: Runtime, actor: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run operation `name` for a workflow step; raises `HarmoniaError` (e.g. `OutboundBlocked`) like any caller."""
    assert actor.channel == "workflow"
    result = rt.invoke(actor, name, arguments)
    return dict(result.model_dump(mode="json", exclude_none=True))
