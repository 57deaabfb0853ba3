"""`search`: full-text over contacts, accounts, deals, notes and messages — an FTS5 index, never a LIKE scan."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import Field
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from .. import fulltext
from ..errors import InvalidArguments
from ..models import Account, Contact, Message, Note, Opportunity
from ..untrusted import Fence
from .common import Limit
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]

Kind = Literal["contact", "account", "opportunity", "note", "message"]


class Search(InputModel):
    q: str = Field(
        min_length=2,
        max_length=200,
        json_schema_extra=rest_only(description="words, an email, part of a phone number or a name"),
    )
    types: list[Kind] | None = Field(None, json_schema_extra=rest_only(description="only these record types"))
    limit: Limit | None = None
    cursor: str | None = Field(None, max_length=20)


class Hit(OutputModel):
    type: str
    id: str
    title: str
    snippet: str | None = None


class SearchResult(OutputModel):
    items: list[Hit]
    next_cursor: str | None = None


def _query_words(q: str) -> list[str]:
    """The words to match, each as a prefix: a phone-like query is one run of digits (its last 10)."""
    stripped = re.sub(r"[\s().+-]", "", q)
    if stripped.isdigit() and len(stripped) >= 3:
        return [stripped[-10:]]
    found = fulltext.query_words(q)
    if not found or all(len(w) < 2 for w in found):
        raise InvalidArguments("search needs at least 2 letters or digits, e.g. a name, an email or part of a phone")
    return found


# The newest matches of each record type are ranked in Python, and pages come from them: ranking every match of a
# broad prefix ("ma") in SQL would read tens of thousands of rows (bm25 counts them all to weigh the term). Per type,
# so a contact named Maria is a candidate even when a thousand newer messages say "Hi Maria".
CANDIDATES = 300  # of one type searched alone; PER_KIND of each when several are
PER_KIND = 120
SQLITE_SQL = text(
    "SELECT d.kind, d.rid, d.title, d.body FROM search_fts_index f JOIN search_fts_docs d ON d.id = f.rowid "
    "WHERE search_fts_index MATCH :match AND d.tenant_id = :tenant ORDER BY f.rowid DESC LIMIT :candidates"
)
PG_SQL = text(
    "SELECT kind, rid, title, body FROM search_documents WHERE tenant_id = :tenant "
    "AND tsv @@ to_tsquery('simple', :query) "
    "AND (CAST(:kinds AS text) IS NULL OR kind = ANY(string_to_array(CAST(:kinds AS text), ','))) LIMIT :candidates"
)
TITLES: dict[str, Any] = {"contact": Contact, "account": Account, "opportunity": Opportunity, "note": Note,
                          "message": Message}  # fmt: skip
KINDS: tuple[str, ...] = get_args(Kind)


def _sqlite_match(tenant_id: str, kind: str, terms: list[str]) -> str:
    """`"<tag>john"* AND "<tag>smi"*`: every term is one tenant's and one record type's (fulltext.py)."""
    tag = fulltext.tag(tenant_id, kind)
    return " AND ".join(f'"{tag}{w}"*' for w in terms)


def _candidates(ctx: OpContext, args: Search, terms: list[str]) -> list[tuple[str, str, str, str, str]]:
    """(kind, id, title, body, tag) of the matches to rank — title and body as words, each behind `tag`: on SQLite
    the newest of each type; on PostgreSQL the first the GIN index yields (ordering every match would read them all)."""
    kinds = args.types or KINDS
    # Raw SQL here carries the tenant itself (the ORM wall cannot see full-text tables); RLS covers PostgreSQL too.
    if ctx.db.dialect == "postgresql":
        query = " & ".join(f"{w}:*" for w in terms)
        rows = ctx.session.execute(PG_SQL, {"query": query, "tenant": ctx.tenant_id, "candidates": CANDIDATES * 2,
                                            "kinds": ",".join(args.types) if args.types else None}).all()  # fmt: skip
        return [
            (k, rid, " ".join(fulltext.words(title)), " ".join(fulltext.words(body)), "")
            for k, rid, title, body in rows
        ]
    out = []
    per_kind = CANDIDATES if len(kinds) == 1 else PER_KIND
    for kind in kinds:
        match = _sqlite_match(ctx.tenant_id, kind, terms)
        try:
            rows = ctx.session.execute(SQLITE_SQL, {"match": match, "tenant": ctx.tenant_id, "candidates": per_kind})
        except OperationalError:  # letters newer than SQLite's Unicode tables split a quoted word: refuse, clearly
            raise InvalidArguments(
                f"search cannot read some characters of {args.q!r}; search with letters and digits of the name, "
                "email, phone or company"
            ) from None
        tag = fulltext.tag(ctx.tenant_id, kind)
        out += [(k, rid, title, body, tag) for k, rid, title, body in rows]
    return out


def _score(terms: list[str], title: str, body: str, tag: str) -> float:
    """Per query word: a whole word of the title 4, the start of one 3; of the body 1, the start of one 0.5.
    Substring tests on the space-separated words (no splitting: a message body can hold thousands of words)."""
    title, body = f" {title} ", f" {body} "
    score = 0.0
    for w in terms:
        key = f" {tag}{w}"
        score += 4 if key + " " in title else 3 if key in title else 1 if key + " " in body else 0.5
    return score


def search(ctx: OpContext, args: Search) -> SearchResult:
    limit = args.limit or 25
    offset = int(args.cursor) if args.cursor and re.fullmatch(r"[0-9]{1,9}", args.cursor) else 0
    terms = _query_words(args.q)
    found = _candidates(ctx, args, terms)
    # Best first; among equals the newest (ids are time-ordered after their kind prefix): a total, stable order.
    ranked = sorted(found, key=lambda r: r[1][3:], reverse=True)
    ranked.sort(key=lambda r: -_score(terms, *r[2:]))  # stable: keeps newest first within a score
    page = ranked[offset : offset + limit]
    more = len(ranked) > offset + limit
    by_kind: dict[str, list[str]] = {}
    for kind, rid, *_ in page:
        by_kind.setdefault(kind, []).append(rid)
    records: dict[str, Any] = {}
    for kind, ids in by_kind.items():
        model = TITLES[kind]
        records.update((row.id, row) for row in ctx.session.scalars(select(model).where(model.id.in_(ids))))
    fence = Fence.for_channel(ctx.actor.channel)  # an inbound message's words are the sender's, not the workspace's
    items = [
        Hit(type=kind, id=rid, title=_title(kind, records[rid], fence),
            snippet=_snippet(kind, records[rid], terms, fence) if kind in ("note", "message") else None)
        for kind, rid, *_ in page if rid in records
    ]  # fmt: skip
    return SearchResult(items=items, next_cursor=str(offset + limit) if more else None)


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
        extra = ", ".join(x for x in (row.email, row.phone) if x)
        return f"{row.full_name} ({extra})" if extra else row.full_name
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
