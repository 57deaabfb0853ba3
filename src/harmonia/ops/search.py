"""`search`: full-text over contacts, accounts, deals, notes and messages — an FTS5 index, never a LIKE scan."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select, text

from ..errors import InvalidArguments
from ..models import Account, Contact, Message, Note, Opportunity
from .common import Limit
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]

Kind = Literal["contact", "account", "opportunity", "note", "message"]
_TOKEN = re.compile(r"[0-9A-Za-zÀ-ÿ]+")


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


def _match(q: str) -> str:
    """The FTS5 query for `q`: every word as a prefix term, ANDed; a phone-like query as one run of digits."""
    stripped = re.sub(r"[\s().+-]", "", q)
    if stripped.isdigit() and len(stripped) >= 3:
        terms = [stripped[-10:]] if len(stripped) > 10 else [stripped]
    else:
        terms = _TOKEN.findall(q)
    if not terms or all(len(t) < 2 for t in terms):
        raise InvalidArguments("search needs at least 2 letters or digits, e.g. a name, an email or part of a phone")
    return " AND ".join(f'"{t.lower()}"*' for t in terms if t)


# A bounded candidate set, ranked in Python: ORDER BY bm25 over every match of a broad prefix ("ma") would score
# tens of thousands of rows; the first CANDIDATES matches are scored instead, and pages come from them.
CANDIDATES = 300
SQL = text(
    "SELECT kind, rid, bm25(search_fts, 0, 0, 0, 4.0, 1.0) AS score, snippet(search_fts, 4, '[', ']', '…', 8) "
    "FROM search_fts WHERE search_fts MATCH :match LIMIT :candidates"
)
TITLES: dict[str, Any] = {"contact": Contact, "account": Account, "opportunity": Opportunity, "note": Note,
                          "message": Message}  # fmt: skip


PG_SQL = text(
    "SELECT kind, rid, -ts_rank(tsv, to_tsquery('simple', :query)) AS score, "
    "ts_headline('simple', body, to_tsquery('simple', :query), 'MaxFragments=1,MaxWords=12,MinWords=4') "
    "FROM search_documents WHERE tenant_id = :tenant AND tsv @@ to_tsquery('simple', :query) "
    "AND (CAST(:kinds AS text) IS NULL OR kind = ANY(string_to_array(CAST(:kinds AS text), ','))) LIMIT :candidates"
)


def search(ctx: OpContext, args: Search) -> SearchResult:
    limit = args.limit or 25
    offset = int(args.cursor) if args.cursor and args.cursor.isdigit() else 0
    terms = _match(args.q)
    # Raw SQL here carries the tenant itself (the ORM wall cannot see full-text tables); RLS covers PostgreSQL too.
    if ctx.db.dialect == "postgresql":
        query = " & ".join(t.strip('"').replace('"*', "") + ":*" for t in terms.split(" AND "))
        found = ctx.session.execute(PG_SQL, {"query": query, "tenant": ctx.tenant_id, "candidates": CANDIDATES,
                                             "kinds": ",".join(args.types) if args.types else None}).all()  # fmt: skip
    else:
        tenant = f'tenant:"{ctx.tenant_id.removeprefix("tn_")}"'
        kinds = f" AND kind:({' OR '.join(args.types)})" if args.types else ""
        match = f"{tenant}{kinds} AND ({terms})"
        found = ctx.session.execute(SQL, {"match": match, "candidates": CANDIDATES}).all()
    ranked = sorted(found, key=lambda r: (r[2], r[1]))
    more = len(ranked) > offset + limit
    rows = [(kind, rid, snip) for kind, rid, _, snip in ranked[offset : offset + limit]]
    by_kind: dict[str, list[str]] = {}
    for kind, rid, _ in rows:
        by_kind.setdefault(kind, []).append(rid)
    titles: dict[str, str] = {}
    for kind, ids in by_kind.items():
        model = TITLES[kind]
        for row in ctx.session.scalars(select(model).where(model.id.in_(ids))):
            titles[row.id] = _title(kind, row)
    items = [Hit(type=kind, id=rid, title=titles[rid], snippet=snip if kind in ("note", "message") else None)
             for kind, rid, snip in rows if rid in titles]  # fmt: skip
    return SearchResult(items=items, next_cursor=str(offset + limit) if more else None)


def _title(kind: str, row: Any) -> str:
    if kind == "contact":
        extra = ", ".join(x for x in (row.email, row.phone) if x)
        return f"{row.full_name} ({extra})" if extra else row.full_name
    if kind in ("account", "opportunity"):
        return str(row.name)
    if kind == "message":
        return f"{row.channel} {row.direction}: {row.subject or row.body[:60]}"
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
