"""Record ids: a short type prefix and 20 characters of time-ordered Crockford base32 (`ct_01JDK3…`).

Why not integers: ids travel through models and tool arguments; a prefix lets an error say "that is an
opportunity id, not a contact id", and random bits make ids of other tenants unguessable. Why time-ordered:
B-tree inserts stay append-mostly, which keeps bulk seeding fast.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["ID_PATTERN", "PREFIXES", "kind_of", "new_id"]

# Every record id: a two-letter kind, "_", 20 Crockford base32 characters (see new_id).
ID_PATTERN = r"^[a-z]{2}_[0-9A-Z]{20}$"

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

PREFIXES: dict[str, str] = {
    "tenant": "tn",
    "user": "us",
    "access_token": "tk",
    "contact": "ct",
    "account": "ac",
    "pipeline": "pl",
    "stage": "st",
    "opportunity": "op",
    "stage_change": "sc",
    "calendar": "ca",
    "event": "ev",
    "conversation": "cv",
    "message": "ms",
    "task": "ta",
    "note": "nt",
    "tag": "tg",
    "lender": "ld",
    "cashflow_month": "cf",
    "submission": "sb",
    "audit_event": "au",
    "idempotency": "ik",
    "session": "ss",
    "domain_event": "de",
    "consent_event": "ce",
    "job": "jb",
    "workflow": "wf",
    "workflow_version": "wv",
    "enrollment": "en",
    "step_run": "sr",
    "send_confirmation": "sx",
    "tenant_secret": "sk",
    "tenant_tool": "tt",
    "upstream": "up",
}
_KIND_BY_PREFIX = {v: k for k, v in PREFIXES.items()}

_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(kind: str) -> str:
    """A new id for a record of `kind`; monotonic within a process, so ids created later sort later."""
    global _last_ms, _last_rand
    prefix = PREFIXES[kind]
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _last_rand += 1
        else:
            _last_rand = int.from_bytes(os.urandom(7), "big") >> 6  # 50 random bits
        _last_ms = ms
        rand = _last_rand & ((1 << 50) - 1)
    return f"{prefix}_{_encode(ms, 10)}{_encode(rand, 10)}"


def kind_of(record_id: str) -> str | None:
    """The record kind an id belongs to, from its prefix; None when it is not one of ours."""
    prefix, sep, _ = record_id.partition("_")
    return _KIND_BY_PREFIX.get(prefix) if sep else None
