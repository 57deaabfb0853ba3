"""Flow counters for the `reports` toolset: stage entries/exits/days per stage and owner, and lender outcomes per
lender, kept by triggers (harmonia/flow_counters.py). Stage changes gain the facts of their move (the deal's owner,
forward/back/lost, whole days in the stage left), backfilled here from the history that exists.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia import flow_counters
from harmonia.counters import _epoch
from harmonia.migrations.security import secure_tenant_table

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# flow_counters.definition_digest() of what this migration creates (tests/unit/test_flow_counters.py checks it)
FLOW_COUNTERS_DIGEST = "5dfac5a90d802f08"


def _counter_table(name: str, key: str, per_owner: bool, metric_len: int) -> None:
    owner = [sa.Column("owner_id", sa.String(24), nullable=False)] if per_owner else []
    pk = ["tenant_id", *(["owner_id"] if per_owner else []), "span", "bucket", key, "metric"]
    op.create_table(
        name,
        sa.Column("tenant_id", sa.String(24), nullable=False),
        *owner,
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column(key, sa.String(24), nullable=False),
        sa.Column("metric", sa.String(metric_len), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{name}_tenant_id_tenants", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*pk, name=f"pk_{name}"),
        sqlite_with_rowid=False,  # clustered on the key: a bucket range is read from the index alone
    )
    secure_tenant_table(name)


def _backfill(dialect: str) -> None:
    """The facts of each past move, from the deal and the stage history (tenant by tenant on PostgreSQL: RLS): days
    in the stage left run from the latest entry into that stage at or before the move (moves can share an instant)."""
    same = "p.tenant_id = stage_changes.tenant_id AND p.id"
    op.execute(f"UPDATE stage_changes SET owner_id = (SELECT p.owner_id FROM opportunities p WHERE {same} = "
               "stage_changes.opportunity_id)")  # fmt: skip
    op.execute(
        "UPDATE stage_changes SET direction = CASE "
        f"WHEN (SELECT p.kind FROM stages p WHERE {same} = stage_changes.to_stage_id) = 'lost' THEN 'lost' "
        f"WHEN (SELECT p.position FROM stages p WHERE {same} = stage_changes.to_stage_id) > "
        f"(SELECT p.position FROM stages p WHERE {same} = stage_changes.from_stage_id) THEN 'forward' ELSE 'back' END "
        "WHERE from_stage_id IS NOT NULL"
    )
    op.execute(
        f"UPDATE stage_changes SET days_in_from_stage = ({_epoch(dialect, 'stage_changes.at')} - (SELECT "
        f"max({_epoch(dialect, 'p.at')}) FROM stage_changes p WHERE p.tenant_id = stage_changes.tenant_id AND "
        "p.opportunity_id = stage_changes.opportunity_id AND p.to_stage_id = stage_changes.from_stage_id "
        "AND p.at <= stage_changes.at AND p.id <> stage_changes.id)) / 86400 "
        "WHERE from_stage_id IS NOT NULL"
    )


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.add_column("stage_changes", sa.Column("owner_id", sa.String(24), nullable=True))
    op.add_column("stage_changes", sa.Column("direction", sa.String(8), nullable=True))
    op.add_column("stage_changes", sa.Column("days_in_from_stage", sa.Integer(), nullable=True))
    _counter_table("stage_flow_counts", "stage_id", True, 16)
    _counter_table("lender_outcome_counts", "lender_id", False, 48)
    # Triggers first: creating them locks out writers until this migration commits, so the recount below sees every
    # row and none is counted twice.
    if dialect == "postgresql":
        for statement in flow_counters.postgres_ddl():
            op.execute(statement)
        for (tenant_id,) in bind.execute(sa.text("SELECT id FROM tenants")).all():
            bind.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant_id})
            _backfill(dialect)
            flow_counters.recount(bind, tenant_id)
        bind.execute(sa.text("SELECT set_config('app.tenant_id', '', true)"))
    else:
        _backfill(dialect)
        for statement in flow_counters.sqlite_triggers().values():
            op.execute(statement)
        flow_counters.recount(bind)


def downgrade() -> None:
    for statement in flow_counters.drop_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("lender_outcome_counts")
    op.drop_table("stage_flow_counts")
    for column in ("days_in_from_stage", "direction", "owner_id"):
        op.execute(f"ALTER TABLE stage_changes DROP COLUMN {column}")
