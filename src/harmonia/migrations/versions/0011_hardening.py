"""Hardening below the application: the tenants table under row-level security, the audit heads append-only to the
application role, and server-side web sessions so that signing out ends a session everywhere.

Tenants (PostgreSQL). The table is the root of isolation and has no `tenant_id`; its key *is* the tenant. Policies:
- in a tenant transaction (`app.tenant_id` set by `db.py` at every BEGIN) the app role sees and may update only its
  own row (`id = app.tenant_id`), and may neither insert nor delete;
- the few paths that work above tenants — slug lookup at sign-in, tenant creation, routing an inbound SMS by its
  number, the outbox worker's tenant list — run in `Database.system_session()`, which marks its transaction with
  `set_config('app.system', 'on', true)`; that transaction may read every row and insert a new one, but not update
  or delete one.
Why a policy for the system session and not SECURITY DEFINER functions: the system paths are ORM queries in four
places; one transaction-local flag keeps them as they are, while functions would have to be owned by a role that
bypasses RLS (a superuser in practice) and would duplicate each query in SQL. Like `app.tenant_id`, the flag is a
wall against a query that forgets its tenant, not against someone who can run arbitrary SQL as the app role.
A connection with neither setting sees no tenant at all.

Audit heads (PostgreSQL). The head row of each tenant's chain is updated on every append, so UPDATE stays granted;
a trigger refuses a DELETE, a sequence that goes backwards, a head that moves to another tenant, and a hash
changed in place. TRUNCATE was never granted.

Web sessions (both dialects): `web_sessions`, one row per sign-in, named by the signed session cookie; sign-out
sets `ended_at`, so that cookie — and any copy of it — stops working in every process.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia.migrations.security import APP_ROLE, secure_tenant_table
from harmonia.models.base import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OWN = "id = NULLIF(current_setting('app.tenant_id', true), '')"
_SYSTEM = "current_setting('app.system', true) = 'on'"


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("id", sa.String(48), nullable=False),
        sa.Column("user_id", sa.String(24), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name="fk_web_sessions_tenant_id_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_web_sessions_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_web_sessions"),
    )
    secure_tenant_table("web_sessions")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenants FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_read ON tenants FOR SELECT USING ({_OWN} OR {_SYSTEM})")
    op.execute(f"CREATE POLICY tenant_update ON tenants FOR UPDATE USING ({_OWN}) WITH CHECK ({_OWN})")
    op.execute(f"CREATE POLICY tenant_create ON tenants FOR INSERT WITH CHECK ({_SYSTEM})")
    op.execute(f"REVOKE DELETE, TRUNCATE ON tenants FROM {APP_ROLE}")

    # DELETE stays granted so that a delete aimed at another tenant's head matches nothing (RLS), as everywhere;
    # a delete that finds a head is refused by the trigger. TRUNCATE was never granted (0004).
    op.execute("""CREATE FUNCTION audit_heads_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'the audit chain head cannot be deleted';
  END IF;
  IF NEW.tenant_id <> OLD.tenant_id OR NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) THEN
    RAISE EXCEPTION 'the audit chain head only moves forward';
  END IF;
  RETURN NEW;
END $$""")
    op.execute(
        "CREATE TRIGGER audit_heads_forward_only BEFORE UPDATE OR DELETE ON audit_heads "
        "FOR EACH ROW EXECUTE FUNCTION audit_heads_forward_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_heads_forward_only ON audit_heads")
        op.execute("DROP FUNCTION IF EXISTS audit_heads_forward_only()")
        for policy in ("tenant_read", "tenant_update", "tenant_create"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON tenants")
        op.execute("ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE tenants DISABLE ROW LEVEL SECURITY")
        op.execute(f"GRANT DELETE ON tenants TO {APP_ROLE}")
    op.drop_table("web_sessions")
