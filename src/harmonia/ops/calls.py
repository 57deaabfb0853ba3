"""One audit row for a call that never reached an operation's own audit: a prompt, a resource read, a tool refused
by a narrowed endpoint, an unknown tool. `Registry.invoke` audits the operations; this covers what lies around
them, so every call on every surface leaves exactly one row, whatever its outcome."""

from __future__ import annotations

from ..db import Actor, Database
from ..services import audit

__all__ = ["record_call", "record_read"]


def record_call(
    db: Database,
    actor: Actor,
    action: str,
    outcome: str,
    *,
    detail: str | None = None,
    target: tuple[str, str] | None = None,
) -> None:
    """Append one row now, in its own transaction (refusals and errors are never buffered)."""
    kind, record_id = target if target else (None, None)
    audit.append_alone(db, actor, action=action[:60], outcome=outcome, detail=detail, target_type=kind,
                       target_id=record_id)  # fmt: skip


def record_read(reads: audit.ReadAudits, actor: Actor, action: str, target: tuple[str, str] | None = None) -> None:
    """A successful read: queued and written in a batch, like the read operations' own rows."""
    reads.add(actor, action, "", target)
