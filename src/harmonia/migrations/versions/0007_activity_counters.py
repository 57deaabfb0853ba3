"""Activity counters kept by triggers, so `reports_activity` reads quarter-hour and day buckets instead of counting
every row of a period (harmonia/counters.py says what is counted and how a window is read).

The counters of what exists are computed from the rows here. PostgreSQL: a tenant table like the others (the app
role's grants, row-level security).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia import counters

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# counters.definition_digest() of what this migration creates (tests/unit/test_activity_counters.py checks it)
ACTIVITY_COUNTERS_DIGEST = "990595f4393d72c7"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "activity_counts",
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(24), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_activity_counts_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "span", "bucket", "user_id", "metric", name="pk_activity_counts"),
    )
    if dialect == "postgresql":
        op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON activity_counts TO harmonia_app")
        op.execute("ALTER TABLE activity_counts ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE activity_counts FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON activity_counts FOR ALL "
            "USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')) "
            "WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))"
        )
    # Triggers first: creating them locks out writers until this migration commits, so the recount below sees every
    # event and none is counted twice.
    if dialect == "postgresql":
        for statement in counters.postgres_ddl():
            op.execute(statement)
        # FORCE row-level security applies to the table owner too: count each tenant with its id set, as the app does
        for (tenant_id,) in op.get_bind().execute(sa.text("SELECT id FROM tenants")).all():
            op.get_bind().execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant_id})
            counters.recount(op.get_bind(), tenant_id)
        op.get_bind().execute(sa.text("SELECT set_config('app.tenant_id', '', true)"))
    elif dialect == "sqlite":
        for statement in counters.sqlite_triggers().values():
            op.execute(statement)
        counters.recount(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in counters.SOURCES:
            op.execute(f"DROP FUNCTION IF EXISTS activity_count_{table}() CASCADE")
        op.execute("DROP FUNCTION IF EXISTS activity_bump(varchar, timestamp, varchar, varchar, integer)")
    else:
        for name in counters.sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("activity_counts")
