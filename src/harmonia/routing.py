"""Routed calls: the trace that travels with every call Harmonia makes to another MCP server, and the loop check.

A routed call carries, in the request's `_meta`, a W3C `traceparent` (one trace id for the whole chain, a new span id
per hop) and `io.harmonia/hops`: every server the call went through, in order — each Harmonia instance by its
install id (`harmonia:1a2b3c4d`), each upstream by the name the workspace gave it. The HTTP request also says `Via`.

A server that passes `_meta` along (as the MCP spec asks of a server that calls on) lets the next Harmonia see the
chain. Harmonia refuses to route a call — to serve an upstream's tool — when the chain already holds this instance
(Harmonia → A → … → Harmonia → A would never end) or is deeper than HARMONIA_MAX_HOPS; the refusal names the loop.
Its own CRM tools stay callable from inside a chain (Claude → Harmonia → Signl → Harmonia's `contacts_get` is the
point of routing); only going out again is refused.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from .errors import HarmoniaError

__all__ = ["HOPS_KEY", "LoopRefused", "Trace"]

HOPS_KEY = "io.harmonia/hops"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_HOP = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")


class LoopRefused(HarmoniaError):
    code = "loop_refused"
    http_status = 508
    outcome = "denied"


@dataclass(frozen=True)
class Trace:
    trace_id: str
    hops: tuple[str, ...] = ()

    @classmethod
    def from_meta(cls, meta: Any) -> Trace:
        """The trace a call came with (from its `_meta`), or a new one. A malformed traceparent starts a new trace; a
        hop list that is not a list of short names counts as a chain of that many unknown hops (never as none)."""
        meta = meta if isinstance(meta, dict) else {}
        found = _TRACEPARENT.match(str(meta.get("traceparent", "")))
        trace_id = found.group(1) if found and found.group(1) != "0" * 32 else secrets.token_hex(16)
        raw = meta.get(HOPS_KEY)
        hops: tuple[str, ...] = ()
        if isinstance(raw, list):
            hops = tuple(h if isinstance(h, str) and _HOP.match(h) else "unknown" for h in raw[:32])
        return cls(trace_id=trace_id, hops=hops)

    def check_route(self, instance: str, upstream: str, max_hops: int) -> None:
        """Refuse to send this call on to `upstream` when it would loop or go deeper than `max_hops` servers."""
        if instance in self.hops:
            chain = " → ".join((*self.hops, instance))
            raise LoopRefused(f"refused: loop {chain}. This call came back to the server it started from; call "
                              f"the tool you need directly instead of through {upstream}")  # fmt: skip
        depth = len(self.hops) + 1  # the hop this call would add: us → upstream
        if depth > max_hops:
            chain = " → ".join((*self.hops, instance, upstream))
            raise LoopRefused(f"refused: {chain} is {depth} hops deep, over the limit of {max_hops} "
                              "(HARMONIA_MAX_HOPS)")  # fmt: skip

    def onward(self, instance: str, upstream: str) -> tuple[dict[str, Any], str]:
        """The `_meta` and the `Via` header of the call this instance makes to `upstream`."""
        span = secrets.token_hex(8)
        meta = {"traceparent": f"00-{self.trace_id}-{span}-01", HOPS_KEY: [*self.hops, instance, upstream]}
        return meta, f"1.1 {instance}"
