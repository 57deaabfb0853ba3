"""SQLite search, rebuilt so a search reads only its own tenant's postings (harmonia/fulltext.py says why).

- `search_fts_docs`: one row per searchable record (tenant, kind, record id, and the title and body as tagged
  terms, `search_terms(tenant, kind, text)`), kept by triggers on the five source tables. An ordinary table with an
  index on (tenant, record id) — ids are unique within a tenant — so an update or a delete finds its row without touching the full-text index.
- `search_fts_index`: FTS5 over that table (external content), `detail=none` (no positions: searches are prefix
  words ANDed, never phrases), prefix indexes for the tag plus 2 and 3 letters (broad prefixes such as "ma").
- Renaming an account re-indexes its contacts, whose body carries the company name.

PostgreSQL keeps 0002's `search_documents` (a tsvector per record under RLS) and gains the same account-rename upkeep.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _digits(expr: str) -> str:
    return f"replace(replace(replace(replace(replace(replace(coalesce({expr}, ''), '+', ''), '-', ''), ' ', ''), '.', ''), '(', ''), ')', '')"


def _phone(expr: str) -> str:
    """A phone as all its digits, the last 10 and the last 7, so "+1 555-201-3344", "5552013344" and "2013344" find it."""
    d = _digits(expr)
    return f"({d} || ' ' || substr({d}, -10) || ' ' || substr({d}, -7))"


# kind: (table, title, body, columns whose change re-indexes the row) — expressions over the row alias {r}
SOURCES = {
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


def _terms(kind: str, expr: str, r: str) -> str:
    return f"search_terms({r}.tenant_id, '{kind}', {expr.format(r=r)})"


# PostgreSQL: a contact's document carries its company's name (0002); a renamed account re-writes its contacts'.
PG_ACCOUNT_RENAMED = """
CREATE FUNCTION search_sync_account_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE search_documents d SET body = coalesce(c.email, '') || ' ' || translate(coalesce(c.email, ''), '@.', '  ')
    || ' ' || regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g')
    || ' ' || right(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g'), 10)
    || ' ' || right(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g'), 7) || ' ' || NEW.name
  FROM contacts c
  WHERE c.tenant_id = NEW.tenant_id AND c.account_id = NEW.id
    AND d.tenant_id = NEW.tenant_id AND d.kind = 'contact' AND d.rid = c.id;
  RETURN NEW;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_ACCOUNT_RENAMED)
        op.execute(
            "CREATE TRIGGER search_accounts_renamed AFTER UPDATE OF name ON accounts FOR EACH ROW "
            "EXECUTE FUNCTION search_sync_account_contacts()"
        )
        return
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, *_ in SOURCES.values():
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS search_{table}_{suffix}")
    op.execute("DROP TABLE IF EXISTS search_fts")
    op.execute(
        "CREATE TABLE search_fts_docs (id INTEGER PRIMARY KEY, tenant_id VARCHAR(24) NOT NULL, "
        "kind VARCHAR(16) NOT NULL, rid VARCHAR(24) NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)"
    )
    op.execute("CREATE UNIQUE INDEX search_fts_docs_record ON search_fts_docs (tenant_id, rid)")
    op.execute(
        "CREATE VIRTUAL TABLE search_fts_index USING fts5(title, body, content = 'search_fts_docs', "
        "content_rowid = 'id', detail = none, columnsize = 0, prefix = '10 11', "
        "tokenize = 'unicode61 remove_diacritics 2')"
    )
    for kind, (table, title, body, _) in SOURCES.items():
        op.execute(
            f"INSERT INTO search_fts_docs (tenant_id, kind, rid, title, body) SELECT r.tenant_id, '{kind}', r.id, "
            f"{_terms(kind, title, 'r')}, {_terms(kind, body, 'r')} FROM {table} r ORDER BY r.id"
        )
    op.execute("INSERT INTO search_fts_index (search_fts_index) VALUES ('rebuild')")  # one pass over what exists
    _index_triggers()
    for kind, (table, title, body, columns) in SOURCES.items():
        op.execute(
            f"CREATE TRIGGER search_{table}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO search_fts_docs (tenant_id, kind, rid, title, body) VALUES (NEW.tenant_id, '{kind}', "
            f"NEW.id, {_terms(kind, title, 'NEW')}, {_terms(kind, body, 'NEW')}); END"
        )
        op.execute(
            f"CREATE TRIGGER search_{table}_au AFTER UPDATE OF {', '.join(columns)} ON {table} BEGIN "
            f"UPDATE search_fts_docs SET title = {_terms(kind, title, 'NEW')}, body = {_terms(kind, body, 'NEW')} "
            f"WHERE tenant_id = NEW.tenant_id AND rid = NEW.id; END"
        )
        op.execute(
            f"CREATE TRIGGER search_{table}_ad AFTER DELETE ON {table} BEGIN "
            f"DELETE FROM search_fts_docs WHERE tenant_id = OLD.tenant_id AND rid = OLD.id; END"
        )
    contact_body = _terms("contact", SOURCES["contact"][2], "c")
    op.execute(
        "CREATE TRIGGER search_accounts_renamed AFTER UPDATE OF name ON accounts BEGIN "
        f"UPDATE search_fts_docs SET body = (SELECT {contact_body} FROM contacts c "
        "WHERE c.tenant_id = NEW.tenant_id AND c.id = search_fts_docs.rid) "
        "WHERE tenant_id = NEW.tenant_id AND rid IN (SELECT id FROM contacts WHERE tenant_id = NEW.tenant_id AND account_id = NEW.id); END"
    )


def _index_triggers() -> None:
    """The standard upkeep of an external-content FTS5 table: the index follows `search_fts_docs`."""
    remove = "INSERT INTO search_fts_index (search_fts_index, rowid, title, body) VALUES ('delete', OLD.id, OLD.title, OLD.body);"
    add = "INSERT INTO search_fts_index (rowid, title, body) VALUES (NEW.id, NEW.title, NEW.body);"
    op.execute(f"CREATE TRIGGER search_fts_docs_ai AFTER INSERT ON search_fts_docs BEGIN {add} END")
    op.execute(f"CREATE TRIGGER search_fts_docs_ad AFTER DELETE ON search_fts_docs BEGIN {remove} END")
    op.execute(f"CREATE TRIGGER search_fts_docs_au AFTER UPDATE ON search_fts_docs BEGIN {remove} {add} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS search_sync_account_contacts() CASCADE")
        return
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS search_accounts_renamed")
    for table, *_ in SOURCES.values():
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS search_{table}_{suffix}")
    for suffix in ("ai", "ad", "au"):
        op.execute(f"DROP TRIGGER IF EXISTS search_fts_docs_{suffix}")
    op.execute("DROP TABLE IF EXISTS search_fts_index")
    op.execute("DROP TABLE IF EXISTS search_fts_docs")
    # 0002's SQLite index, rebuilt from the records by 0002's own code
    spec = importlib.util.spec_from_file_location("search_index_0002", Path(__file__).with_name("0002_search_index.py"))
    assert spec and spec.loader
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    previous.upgrade_sqlite()
