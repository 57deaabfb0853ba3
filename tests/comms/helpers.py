"""Helpers the send-path and fault tests share: queue without delivering, read statuses, count what arrived."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from harmonia.models import Message
from harmonia.services import tenancy

from ..conftest import Workspace

FINAL = ("sent", "delivered", "failed", "unknown", "held", "blocked")


def turn_on(ws: Workspace) -> None:
    tenancy.set_outbound(ws.db, ws.slug, True, actor=ws.owner_actor("cli"), reason="go live")


def queue_emails(ws: Workspace, contact_id: str, n: int, prefix: str = "m") -> list[str]:
    """`n` emails queued through `email_send` (the test has unsubscribed the in-process dispatch)."""
    ids = []
    for i in range(n):
        sent = ws.call("email_send", contact_id=contact_id, subject=f"{prefix}{i}", body=f"message {i}")
        assert sent["status"] == "queued"
        ids.append(sent["id"])
    return ids


def outbound(ws: Workspace) -> dict[str, Message]:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        rows = uow.session.scalars(select(Message).where(Message.direction == "outbound", Message.status != "draft"))
        return {m.id: m for m in rows}


def figures(ws: Workspace, arrived_ids: list[str]) -> dict[str, int]:
    """queued / delivered / failed / unknown / held / duplicated / lost for the workspace's outbound messages.
    lost: a message that ended nowhere truthful — still queued or sending, or `sent` without having arrived, or
    arrived while recorded as failed or held."""
    rows = outbound(ws)
    arrived = Counter(i for i in arrived_ids if i in rows)
    status = Counter(m.status for m in rows.values())
    lost = sum(1 for m in rows.values() if m.status not in FINAL)
    lost += sum(1 for m in rows.values() if m.status in ("sent", "delivered") and m.id not in arrived)
    lost += sum(1 for m in rows.values() if m.status in ("failed", "held", "blocked") and m.id in arrived)
    return {
        "queued": len(rows),
        "delivered": len(arrived),
        "failed": status["failed"],
        "unknown": status["unknown"],
        "held": status["held"],
        "duplicated": sum(n - 1 for n in arrived.values()),
        "lost": lost,
    }


def line(backend: str, case: str, f: dict[str, Any], extra: str = "") -> str:
    parts = ", ".join(f"{k} {v}" for k, v in f.items())
    return f"[{backend}] {case}: {parts}{'; ' + extra if extra else ''}"
