"""Full-text search over the searchable record types (record_types.py): an FTS5 index on SQLite, a GIN-indexed
tsvector on PostgreSQL — never a LIKE scan. Matches are ranked here, in Python, and pages are positions in the
ranking (`paging.decode_offset`)."""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, text

from .. import fulltext
from ..db import UnitOfWork
from ..errors import InvalidArguments
from ..models import Account, Contact, User
from ..queries import TENANT, QueryFamily
from ..record_types import RECORD_TYPES, SEARCHABLE
from .paging import DEFAULT_LIMIT, decode_offset

__all__ = ["Found", "query_words", "search"]


def query_words(q: str) -> list[str]:
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
SQLITE_SQL = (
    "SELECT d.kind, d.rid, d.title, d.body FROM search_fts_index f JOIN search_fts_docs d ON d.id = f.rowid "
    "WHERE search_fts_index MATCH :match AND d.tenant_id = :tenant ORDER BY f.rowid DESC LIMIT :candidates"
)
PG_SQL = text(
    "SELECT kind, rid, title, body FROM search_documents WHERE tenant_id = :tenant "
    "AND tsv @@ to_tsquery('simple', :query) "
    "AND (CAST(:kinds AS text) IS NULL OR kind = ANY(string_to_array(CAST(:kinds AS text), ','))) LIMIT :candidates"
)


def _sqlite_match(tenant_id: str, kind: str, terms: list[str]) -> str:
    """`"<tag>john"* AND "<tag>smi"*`: every term is one tenant's and one record type's (fulltext.py)."""
    tag = fulltext.tag(tenant_id, kind)
    return " AND ".join(f'"{tag}{w}"*' for w in terms)


def _candidates(
    uow: UnitOfWork, q: str, types: Sequence[str] | None, terms: list[str]
) -> list[tuple[str, str, str, str, str]]:
    """(kind, id, title, body, tag) of the matches to rank — title and body as words, each behind `tag`: on SQLite
    the newest of each type; on PostgreSQL the first the GIN index yields (ordering every match would read them all)."""
    kinds = types or SEARCHABLE
    tenant_id = uow.tenant_id
    # Raw SQL here carries the tenant itself (the ORM wall cannot see full-text tables); RLS covers PostgreSQL too.
    if uow.db.dialect == "postgresql":
        query = " & ".join(f"{w}:*" for w in terms)
        rows = uow.session.execute(PG_SQL, {"query": query, "tenant": tenant_id, "candidates": CANDIDATES * 2,
                                        "kinds": ",".join(types) if types else None}).all()  # fmt: skip
        return [
            (k, rid, " ".join(fulltext.words(title)), " ".join(fulltext.words(body)), "")
            for k, rid, title, body in rows
        ]
    out = []
    per_kind = CANDIDATES if len(kinds) == 1 else PER_KIND
    for kind in kinds:
        match = _sqlite_match(tenant_id, kind, terms)
        try:  # on the driver: no ORM session, so a search can be served on the event loop (bounded, db.on_the_loop)
            found, _ = uow.execute_driver(SQLITE_SQL, {"match": match, "tenant": tenant_id, "candidates": per_kind})
        except sqlite3.OperationalError:  # letters newer than SQLite's Unicode tables split a quoted word: refuse
            raise InvalidArguments(
                f"search cannot read some characters of {q!r}; search with letters and digits of the name, "
                "email, phone or company"
            ) from None
        tag = fulltext.tag(tenant_id, kind)
        out += [(k, rid, title, body, tag) for k, rid, title, body in found]
    return out


def _scorer(terms: list[str], tag: str) -> Callable[[str, str], float]:
    """The score of a candidate's title and body words: per query word, a whole word of the title 4, the start of one
    3; of the body 1, the start of one 0.5. Substring tests on the space-separated words (no splitting: a message body
    can hold thousands of words); the keys are built once per tag, not per candidate."""
    keys = [(f" {tag}{w} ", f" {tag}{w}") for w in terms]

    def score(title: str, body: str) -> float:
        title, body = f" {title} ", f" {body} "
        return sum(
            4 if whole in title else 3 if start in title else 1 if whole in body else 0.5 for whole, start in keys
        )

    return score


@dataclass
class Found:
    terms: list[str]  # the query's words, as matched (snippets mark them)
    hits: list[tuple[str, Any, dict[str, str]]]  # (kind, record, names of its owner, account, contact), best first
    next_cursor: str | None


# What each kind of hit shows (ops/search.py makes its title and snippet from these), and who it belongs to and what
# it is about, by name — read in one compiled statement per kind and page size (`queries.Query`: no ORM, so a search
# can be served on the event loop), with outer joins on the tenant and the id.
_FIELDS = {"contact": ("first_name", "last_name", "email", "phone"), "account": ("name",),
           "opportunity": ("name",), "note": ("body",), "message": ("channel", "direction", "subject", "body")}  # fmt: skip
_POINTERS = (("owner_id", User, ("name",), "owner_name"), ("account_id", Account, ("name",), "account_name"),
             ("contact_id", Contact, ("first_name", "last_name"), "contact_name"))  # fmt: skip


def _page_statement(kind: str, size: int) -> Any:
    """The hits of one kind with ids `id0`…`id<size-1>`: their fields, then the names each pointer leads to."""
    model = RECORD_TYPES[kind].model
    table = model.__table__
    joined, columns = table, [table.c.id, *(table.c[f] for f in _FIELDS[kind])]
    for via, target, names, label in _POINTERS:
        if via in table.c and target is not model:
            other = target.__table__
            joined = joined.outerjoin(other, (other.c.tenant_id == TENANT) & (other.c.id == table.c[via]))
            columns += [other.c[n].label(f"{label}{i}") for i, n in enumerate(names)]
    ids: list[Any] = [bindparam(f"id{i}") for i in range(size)]
    return select(*columns).select_from(joined).where(table.c.tenant_id == TENANT, table.c.id.in_(ids))


_PAGES = QueryFamily(_page_statement)


def _names(row: Any) -> dict[str, str]:
    out = {}
    for label, positions in _name_positions(row._fields):
        text_ = " ".join(row[i] for i in positions if row[i]).strip()
        if text_:
            out[label] = text_
    return out


@functools.lru_cache(maxsize=64)
def _name_positions(fields: tuple[str, ...]) -> list[tuple[str, list[int]]]:
    """Where each name's parts sit in a page row (`owner_name0`, `contact_name0`, `contact_name1`…)."""
    found = [(label, [i for i, f in enumerate(fields) if f.startswith(label)]) for *_, label in _POINTERS]
    return [(label, positions) for label, positions in found if positions]


def search(uow: UnitOfWork, q: str, types: Sequence[str] | None, *, limit: int | None, cursor: str | None) -> Found:
    limit = limit or DEFAULT_LIMIT
    offset = decode_offset(cursor)
    terms = query_words(q)
    found = _candidates(uow, q, types, terms)
    # Best first; among equals the newest (ids are time-ordered after their kind prefix): a total, stable order.
    scorers = {tag: _scorer(terms, tag) for tag in {r[4] for r in found}}
    ranked = sorted(found, key=lambda r: r[1][3:], reverse=True)
    ranked.sort(key=lambda r: -scorers[r[4]](r[2], r[3]))  # stable: keeps newest first within a score
    page = ranked[offset : offset + limit]
    more = len(ranked) > offset + limit
    by_kind: dict[str, list[str]] = {}
    for kind, rid, *_ in page:
        by_kind.setdefault(kind, []).append(rid)
    records: dict[str, Any] = {}
    names: dict[str, dict[str, str]] = {}
    for kind, ids in by_kind.items():
        for row in _PAGES.get(kind, len(ids)).rows(uow, **{f"id{i}": rid for i, rid in enumerate(ids)}):
            records[row.id] = row
            names[row.id] = _names(row)
    hits = [(kind, records[rid], names[rid]) for kind, rid, *_ in page if rid in records]
    return Found(terms, hits, str(offset + limit) if more else None)
