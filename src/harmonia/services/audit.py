"""Appending to, reading and verifying the per-tenant hash-chained audit log.

`hash = sha256(prev_hash ‖ canonical JSON of the entry)`. The tip lives in `audit_heads`, whose row is updated on
every append, so appends of one tenant serialise on that row (PostgreSQL row lock; SQLite's single writer).
Rows are never updated or deleted by the application (and PostgreSQL forbids it with a trigger).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from ..db import UnitOfWork
from ..ids import new_id
from ..models import AuditEvent, AuditHead, utcnow

__all__ = ["append", "verify_chain"]

_CHAINED = (
    "id", "seq", "at", "actor_user_id", "token_id", "client", "channel", "action", "target_type", "target_id",
    "outcome", "request_id", "args_digest", "detail", "before", "after",
)  # fmt: skip


def _entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = orjson.dumps({k: fields.get(k) for k in _CHAINED}, option=orjson.OPT_SORT_KEYS, default=_json_default)
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def append(
    uow: UnitOfWork,
    *,
    action: str,
    outcome: str,
    target_type: str | None = None,
    target_id: str | None = None,
    args_digest: str | None = None,
    detail: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    session = uow.session
    actor = uow.actor
    head = session.scalar(select(AuditHead).with_for_update())
    if head is None:
        head = AuditHead(seq=0, hash="0" * 64)
        session.add(head)
    fields: dict[str, Any] = {
        "id": new_id("audit_event"),
        "seq": head.seq + 1,
        "at": utcnow(),
        "actor_user_id": actor.user_id,
        "token_id": actor.token_id,
        "client": actor.client,
        "channel": actor.channel,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "outcome": outcome,
        "request_id": actor.request_id,
        "args_digest": args_digest,
        "detail": (detail or None) and detail[:500],
        "before": _jsonable(before),
        "after": _jsonable(after),
    }
    digest = _entry_hash(head.hash, fields)
    event = AuditEvent(**fields, prev_hash=head.hash, hash=digest)
    session.add(event)
    head.seq = fields["seq"]
    head.hash = digest
    return event


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return orjson.loads(orjson.dumps(value, default=_json_default))  # type: ignore[no-any-return]


def verify_chain(uow: UnitOfWork) -> tuple[bool, int]:
    """Recompute the tenant's chain. Returns (intact, number of entries checked); stops at the first break."""
    prev = "0" * 64
    checked = 0
    expected_seq = 1
    rows = uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).yield_per(1000)
    for row in rows:
        fields = {k: getattr(row, k) for k in _CHAINED}
        if row.seq != expected_seq or row.prev_hash != prev or _entry_hash(prev, fields) != row.hash:
            return False, checked
        prev = row.hash
        expected_seq += 1
        checked += 1
    head = uow.session.scalar(select(AuditHead))
    if head is not None and (head.seq != checked or head.hash != prev):
        return False, checked  # truncated tail
    return True, checked
