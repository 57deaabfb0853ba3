"""SQLite search, rebuilt so a search reads only its own tenant's postings (harmonia/fulltext.py says why and
defines the index: a table of tagged words per record, FTS5 over it, triggers that keep both).

Records that exist are indexed in two set statements; the triggers are created after. A renamed account now
re-indexes its contacts (their body carries the company name) on both backends.

PostgreSQL keeps 0002's `search_documents` (a tsvector per record under RLS) and gains that account-rename upkeep.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

from harmonia import fulltext

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# fulltext.definition_digest() of the index this migration creates (tests/unit/test_search.py checks it)
SEARCH_INDEX_DIGEST = "e2a21d879964f7f7"
OLD_TRIGGERS = [f"search_{table}_{suffix}" for table, *_ in fulltext.SOURCES.values() for suffix in ("ai", "ad", "au")]

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
    for name in OLD_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS search_fts")
    for statement in fulltext.sqlite_schema():
        op.execute(statement)
    fulltext.index_missing(op.get_bind())
    for statement in fulltext.sqlite_triggers().values():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS search_sync_account_contacts() CASCADE")
        return
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in fulltext.sqlite_triggers():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP TABLE IF EXISTS {fulltext.INDEX}")
    op.execute(f"DROP TABLE IF EXISTS {fulltext.DOCS}")
    # 0002's SQLite index, rebuilt from the records by 0002's own code
    spec = importlib.util.spec_from_file_location("search_index_0002", Path(__file__).with_name("0002_search_index.py"))
    assert spec and spec.loader
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    previous.upgrade_sqlite()
