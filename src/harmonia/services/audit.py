"""Appending to, reading and verifying the per-tenant hash-chained audit log.

Successful reads are audited in batches (`ReadAudits`): a write transaction per read would make every read a write
and halve read throughput. A batch is written within `FLUSH_SECONDS`, when it reaches `FLUSH_ITEMS`, before the
audit log is read (`ReadAudits.flush`), and when the composition root closes (`ReadAudits.close`). The price: a crash
loses at most that window of *read* records. Writes, refusals and errors are never buffered: they are appended in the
operation's own transaction (or on their own, `append_alone`).

`hash = sha256(prev_hash ‖ canonical JSON of the entry)`. The tip lives in `audit_heads`, whose row is updated on
every append, so appends of one tenant serialise on that row (PostgreSQL row lock; SQLite's single writer).
Rows are never updated or deleted by the application (and PostgreSQL forbids it with a trigger).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select

from ..db import Actor, Database, UnitOfWork, is_on_the_loop
from ..ids import new_id
from ..models import AuditEvent, AuditHead, utcnow

__all__ = ["Entry", "ReadAudits", "append", "append_alone", "append_many", "verify_chain"]

log = logging.getLogger("harmonia.audit")
FLUSH_SECONDS = 0.2
FLUSH_ITEMS = 200

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
    actor: Actor | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry in `uow`'s transaction. `actor` and `at` default to the unit of work's actor and now."""
    append_many(uow, [Entry(action=action, outcome=outcome, target_type=target_type, target_id=target_id,
                            args_digest=args_digest, detail=detail, before=before, after=after, actor=actor,
                            at=at)])  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Entry:
    action: str
    outcome: str
    target_type: str | None = None
    target_id: str | None = None
    args_digest: str | None = None
    detail: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    actor: Actor | None = None
    at: datetime | None = None


def append_many(uow: UnitOfWork, entries: list[Entry]) -> None:
    """Append `entries` in order in `uow`'s transaction: the chain's head is read (and locked) once and the rows are
    inserted in one statement — a batch of 200 queued reads costs about one write, not 200."""
    if not entries:
        return
    session = uow.session
    head = session.scalar(select(AuditHead).with_for_update())
    if head is None:
        head = AuditHead(seq=0, hash="0" * 64)
        session.add(head)
    seq, prev = head.seq, head.hash
    rows = []
    for e in entries:
        actor = e.actor or uow.actor
        seq += 1
        fields: dict[str, Any] = {
            "id": new_id("audit_event"),
            "seq": seq,
            "at": e.at or utcnow(),
            "actor_user_id": actor.user_id,
            "token_id": actor.token_id,
            "client": actor.client,
            "channel": actor.channel,
            "action": e.action,
            "target_type": e.target_type,
            "target_id": e.target_id,
            "outcome": e.outcome,
            "request_id": actor.request_id,
            "args_digest": e.args_digest,
            "detail": (e.detail or None) and e.detail[:500],
            "before": _jsonable(e.before),
            "after": _jsonable(e.after),
        }
        digest = _entry_hash(prev, fields)
        rows.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(insert(AuditEvent), rows)
    head.seq, head.hash = seq, prev


def append_alone(db: Database, actor: Actor, *, action: str, outcome: str, **fields: Any) -> None:
    """Append one entry in a transaction of its own — a refusal, an error, a call that never reached an operation —
    and never let the audit turn a clean answer into a crash (a failure to write it is logged)."""
    try:
        with db.unit_of_work(actor, write=True) as uow:
            append(uow, action=action, outcome=outcome, **fields)
    except Exception:
        log.exception("could not audit %s/%s", action, outcome)


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


@dataclass(frozen=True)
class _Read:
    actor: Actor
    action: str
    digest: str
    at: datetime
    target_type: str | None
    target_id: str | None


class ReadAudits:
    """The queue of successful reads waiting to be appended. One per process, built by `bootstrap()` and closed by it
    (`close()` writes what is left): no module state, no exit hook."""

    def __init__(self, db: Database, *, flush_seconds: float = FLUSH_SECONDS, flush_items: int = FLUSH_ITEMS) -> None:
        self._db = db
        self._pending: list[_Read] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time keeps each tenant's entries in call order
        self._timer: threading.Timer | None = None
        self._seconds, self._items = flush_seconds, flush_items
        self._closed = False

    def add(self, actor: Actor, action: str, digest: str, target: tuple[str, str] | None = None) -> None:
        kind, record_id = target if target else (None, None)
        item = _Read(actor, action, digest, self._db.clock.now(), kind, record_id)
        with self._lock:
            self._pending.append(item)
            full = len(self._pending) >= self._items or self._closed
            if not full and self._timer is None:
                self._timer = threading.Timer(self._seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if full and is_on_the_loop():  # a read served on the event loop never waits for this write
            threading.Thread(target=self.flush, name="read-audit-flush", daemon=True).start()
        elif full:
            self.flush()

    def close(self) -> None:
        """Write everything queued; later reads are written at once."""
        self._closed = True
        self.flush()

    def flush(self) -> None:
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            if not batch:
                return
            by_tenant: dict[str, list[_Read]] = {}
            for item in batch:
                by_tenant.setdefault(item.actor.tenant_id, []).append(item)
            for tenant_id, items in by_tenant.items():
                try:
                    with self._db.unit_of_work(Actor(tenant_id=tenant_id, channel="system")) as uow:
                        append_many(uow, [Entry(action=r.action, outcome="ok", args_digest=r.digest, actor=r.actor,
                                                at=r.at, target_type=r.target_type, target_id=r.target_id)
                                          for r in items])  # fmt: skip
                except Exception:  # never let the audit of reads break the reads themselves
                    log.exception("could not write %d read audit entries of %s", len(items), tenant_id)
