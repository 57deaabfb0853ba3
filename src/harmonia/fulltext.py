"""Search terms for SQLite's full-text index: every indexed word carries a tag of its tenant and its record type.

Why: one FTS5 index serves every tenant. With the tenant as an indexed column of its own, a search was
`tenant:X AND "ma"*`: FTS5 walked both posting lists, the tenant's as long as the tenant, and ranked by bm25, which
counts every match of the prefix to weigh it. At 1M contacts that was 398 ms at p99. Writing each word as
`<tag><word>` (`k3f9x2qc` + `maria`) puts the tenant inside the term: "ma"* becomes the one prefix term
"k3f9x2qcma"*, read from a prefix index whose postings are only that tenant's contacts. A larger tenant beside it
costs nothing, and word statistics never cross tenants.

The tag is 7 characters of a hash of the tenant id and one letter for the record type (`c`ontact, `a`ccount,
`o`pportunity, `n`ote, `m`essage), so a search limited to deals reads only deals. A hash can collide; the search
also checks each hit's stored tenant, so a collision could cost time, never leak a row.

The index is defined here, once (`SOURCES`, `sqlite_schema`, `sqlite_triggers`); migration 0006 applies it. A
change here needs a migration that re-creates the index: tests/unit/test_search.py compares `definition_digest()`
with the one the newest such migration records.

SQLite calls `search_terms()` from the index triggers, so every connection that writes contacts, accounts, deals,
notes or messages must have it registered (`register`; and `bulk.register`): Harmonia's engine and Alembic's do. A
bare `sqlite3` shell can read everything but cannot write those tables ("no such function: search_terms") — use
`harmonia` or the API. Bulk loads index once at the end (`bulk.deferred`, then `index_missing`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import unicodedata
from typing import Any

from sqlalchemy import Connection, text

from . import bulk
from .record_types import RECORD_TYPES

__all__ = [
    "KIND_LETTERS", "SOURCES", "TAG_LENGTH", "WORD", "definition_digest", "index_missing", "query_words", "register",
    "search_terms", "sqlite_schema", "sqlite_triggers", "tag", "words",
]  # fmt: skip

# The letter of each searchable record type (record_types.py says which types are searchable, and their letters).
KIND_LETTERS: dict[str, str] = {t.name: t.search_letter for t in RECORD_TYPES.values() if t.search_letter}
TAG_LENGTH = 8
# The most distinct words one record contributes: a pasted 50-page email should not grow the index without bound.
MAX_WORDS = 2000
WORD = re.compile(r"[^\W_]+")  # a word: letters and digits (search and its snippets)


@functools.lru_cache(maxsize=4096)
def tag(tenant_id: str, kind: str) -> str:
    digest = hashlib.blake2b(tenant_id.encode(), digest_size=5).digest()
    return base64.b32encode(digest).decode().lower()[: TAG_LENGTH - 1] + KIND_LETTERS[kind]


def words(text: str) -> list[str]:
    """Lowercase words without diacritics ("José-Luis O'Neil" → jose, luis, o, neil), in order, each once."""
    if text.isascii():  # most CRM text: nothing to fold but case
        return list(dict.fromkeys(WORD.findall(text.lower())))
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return list(dict.fromkeys(WORD.findall(plain)))


def search_terms(tenant_id: str | None, kind: str, text: str | None) -> str:
    """The indexed text of one field: each word, once, behind the tenant-and-type tag."""
    if not tenant_id or not text:
        return ""
    prefix = tag(tenant_id, kind)
    return " ".join(prefix + w for w in words(text)[:MAX_WORDS])


def query_words(q: str) -> list[str]:
    """The words of a query, folded the way `search_terms` folds them; one-letter words are dropped when longer ones
    are there (as a prefix, "a" matches nearly everything and would only cost time)."""
    found = words(q)
    longer = [w for w in found if len(w) >= 2]
    return longer or found


def register(dbapi_connection: Any) -> None:
    """Make `search_terms(tenant_id, kind, text)` callable from SQL (the index triggers call it)."""
    dbapi_connection.create_function("search_terms", 3, search_terms, deterministic=True)
    # Triggers may call application functions only when the schema is trusted; SQLite builds that default to OFF
    # would refuse every write ("unsafe use of search_terms()"), and Python cannot mark a function innocuous.
    dbapi_connection.execute("PRAGMA trusted_schema = ON")


# --- the SQLite index ------------------------------------------------------------------------------------------


def _digits(expr: str) -> str:
    for ch in "+- .()":
        expr = f"replace({expr}, '{ch}', '')"
    return expr


def _phone(expr: str) -> str:
    """A phone as all its digits, the last 10 and the last 7, so "+1 555-201-3344", "5552013344" and "2013344" find
    it."""
    d = _digits(f"coalesce({expr}, '')")
    return f"({d} || ' ' || substr({d}, -10) || ' ' || substr({d}, -7))"


# kind: (table, title, body, the columns whose change re-indexes the row) — SQL over the row alias {r}. A contact's
# body carries its company's name, so a renamed account re-indexes its contacts (`search_accounts_renamed`).
SOURCES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "contact": (
        "contacts",
        "{r}.first_name || ' ' || {r}.last_name",
        "coalesce({r}.email, '') || ' ' || " + _phone("{r}.phone") + " || ' ' || coalesce("
        "(SELECT a.name FROM accounts a WHERE a.tenant_id = {r}.tenant_id AND a.id = {r}.account_id), '')",
        ("first_name", "last_name", "email", "phone", "account_id"),
    ),
    "account": (
        "accounts",
        "{r}.name",
        "coalesce({r}.legal_name, '') || ' ' || coalesce({r}.domain, '') || ' ' || coalesce({r}.industry, '')"
        " || ' ' || " + _phone("{r}.phone"),
        ("name", "legal_name", "domain", "industry", "phone"),
    ),
    "opportunity": (
        "opportunities",
        "{r}.name",
        "coalesce({r}.use_of_funds, '') || ' ' || coalesce({r}.source, '')",
        ("name", "use_of_funds", "source"),
    ),
    "note": ("notes", "''", "{r}.body", ("body",)),
    "message": ("messages", "coalesce({r}.subject, '')", "{r}.body", ("subject", "body")),
}
DOCS = "search_fts_docs"
INDEX = "search_fts_index"


def _terms(kind: str, expr: str, r: str) -> str:
    return f"search_terms({r}.tenant_id, '{kind}', {expr.format(r=r)})"


def sqlite_schema() -> list[str]:
    """`search_fts_docs`: one row per record, its title and body as tagged words, found by (tenant, id) for updates
    and deletes. `search_fts_index`: FTS5 over it (external content); `detail=none` (searches are prefix words ANDed,
    never phrases, so positions would only cost space); prefix indexes for the tag plus 2 and 3 letters."""
    return [
        f"CREATE TABLE {DOCS} (id INTEGER PRIMARY KEY, tenant_id VARCHAR(24) NOT NULL, kind VARCHAR(16) NOT NULL, "
        "rid VARCHAR(24) NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)",
        f"CREATE UNIQUE INDEX {DOCS}_record ON {DOCS} (tenant_id, rid)",
        f"CREATE VIRTUAL TABLE {INDEX} USING fts5(title, body, content = '{DOCS}', content_rowid = 'id', "
        f"detail = none, columnsize = 0, prefix = '{TAG_LENGTH + 2} {TAG_LENGTH + 3}', "
        "tokenize = 'unicode61 remove_diacritics 2')",
    ]


def sqlite_triggers() -> dict[str, str]:
    """name → CREATE TRIGGER: the source tables keep `search_fts_docs`, which keeps the FTS5 index."""
    out: dict[str, str] = {}
    for kind, (table, title, body, columns) in SOURCES.items():
        new_title, new_body = _terms(kind, title, "NEW"), _terms(kind, body, "NEW")
        out[f"search_{table}_ai"] = (
            f"CREATE TRIGGER search_{table}_ai AFTER INSERT ON {table} WHEN row_upkeep() BEGIN "
            f"INSERT INTO {DOCS} (tenant_id, kind, rid, title, body) "
            f"VALUES (NEW.tenant_id, '{kind}', NEW.id, {new_title}, {new_body}); END"
        )
        out[f"search_{table}_au"] = (
            f"CREATE TRIGGER search_{table}_au AFTER UPDATE OF {', '.join(columns)} ON {table} BEGIN "
            f"UPDATE {DOCS} SET title = {new_title}, body = {new_body} "
            "WHERE tenant_id = NEW.tenant_id AND rid = NEW.id; END"
        )
        out[f"search_{table}_ad"] = (
            f"CREATE TRIGGER search_{table}_ad AFTER DELETE ON {table} BEGIN "
            f"DELETE FROM {DOCS} WHERE tenant_id = OLD.tenant_id AND rid = OLD.id; END"
        )
    contact_body = _terms("contact", SOURCES["contact"][2], "c")
    out["search_accounts_renamed"] = (
        "CREATE TRIGGER search_accounts_renamed AFTER UPDATE OF name ON accounts BEGIN "
        f"UPDATE {DOCS} SET body = (SELECT {contact_body} FROM contacts c "
        f"WHERE c.tenant_id = NEW.tenant_id AND c.id = {DOCS}.rid) WHERE tenant_id = NEW.tenant_id "
        "AND rid IN (SELECT id FROM contacts WHERE tenant_id = NEW.tenant_id AND account_id = NEW.id); END"
    )
    remove = f"INSERT INTO {INDEX} ({INDEX}, rowid, title, body) VALUES ('delete', OLD.id, OLD.title, OLD.body);"
    add = f"INSERT INTO {INDEX} (rowid, title, body) VALUES (NEW.id, NEW.title, NEW.body);"
    out[f"{DOCS}_ai"] = f"CREATE TRIGGER {DOCS}_ai AFTER INSERT ON {DOCS} WHEN row_upkeep() BEGIN {add} END"
    out[f"{DOCS}_ad"] = f"CREATE TRIGGER {DOCS}_ad AFTER DELETE ON {DOCS} BEGIN {remove} END"
    out[f"{DOCS}_au"] = f"CREATE TRIGGER {DOCS}_au AFTER UPDATE ON {DOCS} BEGIN {remove} {add} END"
    return out


def definition_digest() -> str:
    """A fingerprint of the index definition; the newest migration that (re)creates the index records it, and a test
    compares, so a change here without a migration re-creating the index fails."""
    ddl = "\n".join([*sqlite_schema(), *sqlite_triggers().values()])
    return hashlib.sha256(ddl.encode()).hexdigest()[:16]


def index_missing(conn: Connection, tenant_id: str | None = None) -> int:
    """Index every record (of `tenant_id`, or of all tenants) that is not in the index yet; returns how many.

    Two set statements instead of per-row triggers. Run it inside a write transaction (Harmonia's units of work and
    `engine.begin()` start SQLite's with BEGIN IMMEDIATE): SQLite admits one writer, so the rows above the watermark
    are exactly the ones inserted here."""
    if not conn.in_transaction():
        raise RuntimeError(
            "index_missing needs a write transaction (rows of a concurrent writer would be indexed twice)"
        )
    with bulk.deferred():
        (watermark,) = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {DOCS}")).one()
        only = "r.tenant_id = :tenant AND " if tenant_id else ""  # no OR: the primary key serves the tenant's rows
        for kind, (table, title, body, _) in SOURCES.items():
            conn.execute(
                text(
                    f"INSERT INTO {DOCS} (tenant_id, kind, rid, title, body) SELECT r.tenant_id, '{kind}', r.id, "
                    f"{_terms(kind, title, 'r')}, {_terms(kind, body, 'r')} FROM {table} r WHERE {only}NOT EXISTS "
                    f"(SELECT 1 FROM {DOCS} d WHERE d.tenant_id = r.tenant_id AND d.rid = r.id)"
                ),
                {"tenant": tenant_id},
            )
        added = conn.execute(
            text(f"INSERT INTO {INDEX} (rowid, title, body) SELECT id, title, body FROM {DOCS} WHERE id > :w"),
            {"w": watermark},
        )
    return int(added.rowcount)
