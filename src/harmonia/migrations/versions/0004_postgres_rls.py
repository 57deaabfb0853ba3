"""PostgreSQL row-level security on every tenant table: the second wall under the ORM's tenant filter.

Every table with a `tenant_id` column gets ENABLE + FORCE ROW LEVEL SECURITY and one policy for all commands,
`tenant_id = NULLIF(current_setting('app.tenant_id', true), '')` (USING and WITH CHECK): with no tenant set in the
transaction (`set_config(..., true)`, done by `db.py` at every BEGIN) no row is visible or writable. The application
connects as `harmonia_app` (LOGIN, not superuser, no BYPASSRLS, owns nothing; its password, if any, is the operator's
business): SELECT/INSERT/UPDATE/DELETE only, no TRUNCATE. The audit log refuses UPDATE and DELETE outright.

`tenants` is the root of isolation and has no `tenant_id`: it stays readable to the app (slug lookup, token parsing
needs the id only), and holds no CRM data.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = "harmonia_app"


def _tenant_tables() -> list[str]:
    rows = op.get_bind().execute(sa.text(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_name = c.table_name AND t.table_schema = c.table_schema "
        "WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE' "
        "ORDER BY 1"
    ))  # fmt: skip
    return [r[0] for r in rows]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END $$""")
    op.execute(
        f"GRANT USAGE ON SCHEMA {op.get_bind().execute(sa.text('SELECT current_schema()')).scalar()} TO {APP_ROLE}"
    )
    for table in [*_tenant_tables(), "tenants", "alembic_version"]:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE ON alembic_version FROM {APP_ROLE}")
    for table in _tenant_tables():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} FOR ALL "
            "USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')) "
            "WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))"
        )
    op.execute("""CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""")
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    for table in _tenant_tables():
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
