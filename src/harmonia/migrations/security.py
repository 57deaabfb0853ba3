"""PostgreSQL grants and row-level security for a migration's tables, written once.

Every tenant table gets the same treatment (see 0004_postgres_rls): the application role `harmonia_app` may SELECT,
INSERT, UPDATE and DELETE, and row-level security (enabled and forced) keeps each transaction to the tenant it set
with `set_config('app.tenant_id', …, true)`. A new migration calls `secure_tenant_table("name")` for each table it
creates instead of copying that block; on SQLite every function here does nothing.

Tables that exist above tenants (OAuth client registrations, the installation's secrets) call `grant_app(...)` with
the privileges they need and say in their migration why they carry no tenant.
"""

from __future__ import annotations

from alembic import op

__all__ = ["APP_ROLE", "TENANT_POLICY", "grant_app", "secure_tenant_table", "unsecure_tenant_table"]

APP_ROLE = "harmonia_app"
TENANT_POLICY = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')"


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def grant_app(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    """Give the application role `privileges` on `table` (PostgreSQL only)."""
    if _postgres():
        op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")


def secure_tenant_table(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    """Grants plus enabled and forced row-level security with the one tenant policy (PostgreSQL only)."""
    if not _postgres():
        return
    grant_app(table, privileges)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} FOR ALL USING ({TENANT_POLICY}) WITH CHECK ({TENANT_POLICY})"
    )


def unsecure_tenant_table(table: str) -> None:
    """The downgrade of `secure_tenant_table` (dropping the table drops its policy too; this is for tables kept)."""
    if not _postgres():
        return
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
