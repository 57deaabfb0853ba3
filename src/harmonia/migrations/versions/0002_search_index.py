"""Full-text search index: one SQLite FTS5 table over contacts, accounts, deals, notes and messages, kept in sync by
triggers (so every write path, bulk seeding included, is covered without code elsewhere).

Columns: `tenant` (the tenant id without its `tn_` prefix: one rare token, not a two-token phrase) and `rid` are indexed so a search is ANDed with the tenant inside the index and a row can be found
for deletion without a scan; `kind` filters by record type. Phones are indexed as digits, last 10 and last 7 digits,
so "555-201-3344", "2013344" and "+15552013344" all find the contact.

PostgreSQL: not yet built (tsvector + pg_trgm is the plan, issue 4); the search service refuses there, plainly.

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


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
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
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, *_ in SOURCES.values():
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS search_{table}_{suffix}")
    op.execute("DROP TABLE IF EXISTS search_fts")
