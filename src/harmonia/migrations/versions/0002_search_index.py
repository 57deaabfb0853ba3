"""Full-text search index: one SQLite FTS5 table over contacts, accounts, deals, notes and messages, kept in sync by
triggers (so every write path, bulk seeding included, is covered without code elsewhere).

Columns: `tenant` (the tenant id without its `tn_` prefix: one rare token, not a two-token phrase) and `rid` are indexed so a search is ANDed with the tenant inside the index and a row can be found
for deletion without a scan; `kind` filters by record type. Phones are indexed as digits, last 10 and last 7 digits,
so "555-201-3344", "2013344" and "+15552013344" all find the contact.

PostgreSQL: a `search_documents` table (tenant_id, kind, rid, title, body, a generated `tsvector` with a GIN index),
kept in sync by plpgsql triggers over the same five tables; it is a tenant table like the others (RLS applies).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _phone(expr: str) -> str:
    digits = f"replace(replace(replace(replace(coalesce({expr}, ''), '+', ''), '-', ''), ' ', ''), '.', '')"
    return f"({digits} || ' ' || substr({digits}, -10) || ' ' || substr({digits}, -7))"


SOURCES = {
    # kind: (table, title expression, body expression) — evaluated over NEW./OLD. rows
    "contact": (
        "contacts",
        "{r}.first_name || ' ' || {r}.last_name",
        "coalesce({r}.email, '') || ' ' || " + _phone("{r}.phone") + " || ' ' || coalesce("
        "(SELECT a.name FROM accounts a WHERE a.tenant_id = {r}.tenant_id AND a.id = {r}.account_id), '')",
    ),
    "account": (
        "accounts",
        "{r}.name",
        "coalesce({r}.legal_name, '') || ' ' || coalesce({r}.domain, '') || ' ' || coalesce({r}.industry, '')"
        " || ' ' || " + _phone("{r}.phone"),
    ),
    "opportunity": ("opportunities", "{r}.name", "coalesce({r}.use_of_funds, '') || ' ' || coalesce({r}.source, '')"),
    "note": ("notes", "''", "{r}.body"),
    "message": ("messages", "coalesce({r}.subject, '')", "{r}.body"),
}

INDEXED_COLUMNS = {
    "contact": ("first_name", "last_name", "email", "phone", "account_id"),
    "account": ("name", "legal_name", "domain", "industry", "phone"),
    "opportunity": ("name", "use_of_funds", "source"),
    "note": ("body",),
    "message": ("subject", "body"),
}


PG_SOURCES = {
    "contact": (
        "contacts",
        "{r}.first_name || ' ' || {r}.last_name",
        "coalesce({r}.email, '') || ' ' || translate(coalesce({r}.email, ''), '@.', '  ') || ' ' || {phone} || ' ' "
        "|| coalesce((SELECT a.name FROM accounts a WHERE a.tenant_id = {r}.tenant_id AND a.id = {r}.account_id), '')",
    ),
    "account": (
        "accounts",
        "{r}.name",
        "coalesce({r}.legal_name, '') || ' ' || coalesce({r}.domain, '') || ' ' || "
        "coalesce({r}.industry, '') || ' ' || {phone}",
    ),
    "opportunity": ("opportunities", "{r}.name", "coalesce({r}.use_of_funds, '') || ' ' || coalesce({r}.source, '')"),
    "note": ("notes", "''", "{r}.body"),
    "message": ("messages", "coalesce({r}.subject, '')", "{r}.body"),
}


def _pg_phone(r: str) -> str:
    digits = f"regexp_replace(coalesce({r}.phone, ''), '[^0-9]', '', 'g')"
    return f"({digits} || ' ' || right({digits}, 10) || ' ' || right({digits}, 7))"


def _upgrade_postgres() -> None:
    op.execute(
        "CREATE TABLE search_documents (tenant_id varchar(24) NOT NULL REFERENCES tenants(id) ON DELETE CASCADE, "
        "kind varchar(16) NOT NULL, rid varchar(24) NOT NULL, title text NOT NULL, body text NOT NULL, "
        "tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('simple', title), 'A') || "
        "to_tsvector('simple', body)) STORED, PRIMARY KEY (tenant_id, kind, rid))"
    )
    op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
    for kind, (table, title, body) in PG_SOURCES.items():
        phone = _pg_phone("NEW") if "{phone}" in body else ""
        title_new, body_new = title.format(r="NEW"), body.format(r="NEW", phone=phone)
        op.execute(f"""
CREATE FUNCTION search_sync_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM search_documents WHERE tenant_id = OLD.tenant_id AND kind = '{kind}' AND rid = OLD.id;
    RETURN OLD;
  END IF;
  INSERT INTO search_documents (tenant_id, kind, rid, title, body)
  VALUES (NEW.tenant_id, '{kind}', NEW.id, {title_new}, {body_new})
  ON CONFLICT (tenant_id, kind, rid) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body;
  RETURN NEW;
END $$""")
        cols = ", ".join(INDEXED_COLUMNS[kind])
        op.execute(
            f"CREATE TRIGGER search_{table}_ins AFTER INSERT ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION search_sync_{table}()"
        )
        op.execute(
            f"CREATE TRIGGER search_{table}_upd AFTER UPDATE OF {cols} ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION search_sync_{table}()"
        )
        op.execute(
            f"CREATE TRIGGER search_{table}_del AFTER DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION search_sync_{table}()"
        )
        op.execute(
            f"INSERT INTO search_documents (tenant_id, kind, rid, title, body) SELECT r.tenant_id, '{kind}', "
            f"r.id, {title.format(r='r')}, {body.format(r='r', phone=_pg_phone('r') if '{phone}' in body else '')} "
            f"FROM {table} r"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgres()
        return
    if op.get_bind().dialect.name == "sqlite":
        upgrade_sqlite()


def upgrade_sqlite() -> None:
    """The SQLite index of this revision (0006 replaces it, and rebuilds it with this on downgrade)."""
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5("
        "tenant, kind, rid, title, body, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
    )
    for kind, (table, title, body) in SOURCES.items():
        insert = (
            f"INSERT INTO search_fts(tenant, kind, rid, title, body) VALUES "
            f"(substr(NEW.tenant_id, 4), '{kind}', NEW.id, {title.format(r='NEW')}, {body.format(r='NEW')});"
        )
        delete = (
            f"DELETE FROM search_fts WHERE rowid IN (SELECT rowid FROM search_fts "
            f"WHERE search_fts MATCH 'rid:\"' || OLD.id || '\"' AND kind = '{kind}');"
        )
        # backfill what exists (a database migrated with data already in it)
        op.execute(
            f"INSERT INTO search_fts(tenant, kind, rid, title, body) SELECT substr(tenant_id, 4), '{kind}', id, "
            f"{title.format(r=table)}, {body.format(r=table)} FROM {table}"
        )
        op.execute(f"CREATE TRIGGER search_{table}_ai AFTER INSERT ON {table} BEGIN {insert} END")
        op.execute(f"CREATE TRIGGER search_{table}_ad AFTER DELETE ON {table} BEGIN {delete} END")
        columns = ", ".join(INDEXED_COLUMNS[kind])  # touching last_activity_at must not re-index the row
        op.execute(f"CREATE TRIGGER search_{table}_au AFTER UPDATE OF {columns} ON {table} BEGIN {delete} {insert} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, *_ in PG_SOURCES.values():
            op.execute(f"DROP FUNCTION IF EXISTS search_sync_{table}() CASCADE")
        op.execute("DROP TABLE IF EXISTS search_documents")
        return
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, *_ in SOURCES.values():
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS search_{table}_{suffix}")
    op.execute("DROP TABLE IF EXISTS search_fts")
