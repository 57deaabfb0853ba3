"""Jobs (long-running, batch-committed, resumable work: imports first) and their ledger, `job_items`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia.migrations.security import secure_tenant_table
from harmonia.models.base import Json, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", Json(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("result", Json(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("error_file", sa.String(200), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(24), nullable=True),
        sa.Column("created_via", sa.String(16), nullable=True),
        sa.Column("created_client", sa.String(80), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_jobs_tenant_id_tenants", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_tenant_status", "jobs", ["tenant_id", "status", "created_at"])
    op.create_table(
        "job_items",
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("job_id", sa.String(24), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(24), nullable=True),
        sa.Column("before", Json(), nullable=False),
        sa.Column("after", Json(), nullable=False),
        sa.Column("stamp", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_job_items_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "job_id"],
            ["jobs.tenant_id", "jobs.id"],
            name="fk_job_items_tenant_id_job_id_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "job_id", "row", "record_type", name="pk_job_items"),
    )
    op.create_index("ix_job_items_tenant_record", "job_items", ["tenant_id", "record_id"])
    secure_tenant_table("jobs")
    secure_tenant_table("job_items")


def downgrade() -> None:
    op.drop_table("job_items")
    op.drop_table("jobs")
