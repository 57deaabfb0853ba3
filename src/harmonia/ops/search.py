"""`search`: full-text over contacts, accounts, deals, notes and messages — an FTS5 index, never a LIKE scan."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from .. import fulltext
from ..record_types import Searchable
from ..services import search as svc
from ..untrusted import Fence
from .common import Limit
from .registry import OpContext, Operation, Scope
from .schema import MCP_OMITS, InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]


class Search(InputModel):
    q: str = Field(
        min_length=2,
        max_length=200,
        json_schema_extra=rest_only(description="words, an email, part of a phone number or a name"),
    )
    types: list[Searchable] | None = Field(None, json_schema_extra=rest_only(description="only these record types"))
    limit: Limit | None = None
    cursor: str | None = Field(None, max_length=20, json_schema_extra={MCP_OMITS: ["maxLength"]})  # opaque


class Hit(OutputModel):
    type: str
    id: str
    title: str
    snippet: str | None = None
    owner_name: str | None = None
    account_name: str | None = None
    contact_name: str | None = None


class SearchResult(OutputModel):
    items: list[Hit]
    next_cursor: str | None = None


def search(ctx: OpContext, args: Search) -> SearchResult:
    found = svc.search(ctx.uow, args.q, args.types, limit=args.limit, cursor=args.cursor)
    fence = Fence.for_channel(ctx.actor.channel)  # an inbound message's words are the sender's, not the workspace's
    items = [
        Hit(type=kind, id=row.id, title=_title(kind, row, fence),
            snippet=_snippet(kind, row, found.terms, fence) if kind in ("note", "message") else None, **names)
        for kind, row, names in found.hits
    ]  # fmt: skip
    return SearchResult(items=items, next_cursor=found.next_cursor)


def snippet(text_: str, terms: list[str], width: int = 8) -> str:
    """About `width` words of `text_` from just before its first word matching a query word; matches in [brackets],
    "…" where words were left out."""
    spans = list(fulltext.WORD.finditer(text_))
    if not spans:
        return ""

    def hit(m: re.Match[str]) -> bool:
        folded = fulltext.words(m.group())
        return bool(folded) and any(folded[0].startswith(w) for w in terms)

    first = next((i for i, m in enumerate(spans) if hit(m)), 0)
    lo = max(0, min(first - width // 4, len(spans) - width))
    hi = min(len(spans), lo + width)
    out, pos = [], spans[lo].start()
    for m in spans[lo:hi]:
        out.append(text_[pos : m.start()] + (f"[{m.group()}]" if hit(m) else m.group()))
        pos = m.end()
    tail = text_[pos:].rstrip() if hi == len(spans) else "…"
    return ("…" if lo > 0 else "") + "".join(out) + tail


def _snippet(kind: str, row: Any, terms: list[str], fence: Fence) -> str | None:
    text_ = snippet(row.body, terms)
    return fence.mark_inbound(text_, row.direction, row.channel) if kind == "message" else text_


def _title(kind: str, row: Any, fence: Fence) -> str:
    if kind == "contact":
        name = f"{row.first_name} {row.last_name}".strip()
        extra = ", ".join(x for x in (row.email, row.phone) if x)
        return f"{name} ({extra})" if extra else name
    if kind in ("account", "opportunity"):
        return str(row.name)
    if kind == "message":
        return f"{row.channel} {row.direction}: {fence.mark_inbound(row.subject or row.body[:60], row.direction, row.channel)}"
    return str(row.body[:80])


OPERATIONS = [
    Operation(
        name="search",
        title="Search the CRM",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Full-text search across contacts (name, email, phone digits, company), accounts, deals, notes "
        "and messages; words match as prefixes.",
        input=Search,
        output=SearchResult,
        handler=search,
        rest=("GET", "/search"),
    ),
]
