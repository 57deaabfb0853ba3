"""Workflows and sequences: definitions, immutable versions, enrollments (the durable timer) and step runs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from harmonia.migrations.security import secure_tenant_table
from harmonia.models.base import Json, UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("workflows", "workflow_versions", "workflow_enrollments", "workflow_step_runs")


def _record(table: str) -> list[Any]:
    """The columns and keys every tenant record has (models.base.TenantScoped)."""
    return [
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(24), nullable=True),
        sa.Column("created_via", sa.String(16), nullable=True),
        sa.Column("created_client", sa.String(80), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{table}"),
    ]


def _name(name: str) -> str | None:
    """The models' naming convention, or the database's own name where that would pass PostgreSQL's 63 characters."""
    return name if len(name) <= 63 else None


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"],
                                   name=_name(f"fk_{table}_tenant_id_{column}_{target}"), ondelete=ondelete)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "workflows",
        *_record("workflows"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.String(24), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("settings", Json(), nullable=False),
        _fk("workflows", "owner_id", "users"),
    )
    op.create_index("ix_workflows_tenant_updated", "workflows", ["tenant_id", "updated_at", "id"])
    op.create_table(
        "workflow_versions",
        *_record("workflow_versions"),
        sa.Column("workflow_id", sa.String(24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trigger", Json(), nullable=True),
        sa.Column("steps", Json(), nullable=False),
        _fk("workflow_versions", "workflow_id", "workflows", "CASCADE"),
        sa.UniqueConstraint(
            "tenant_id", "workflow_id", "version", name="uq_workflow_versions_tenant_id_workflow_id_version"
        ),
    )
    op.create_table(
        "workflow_enrollments",
        *_record("workflow_enrollments"),
        sa.Column("workflow_id", sa.String(24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.String(24), nullable=False),
        sa.Column("opportunity_id", sa.String(24), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(40), nullable=True),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        _fk("workflow_enrollments", "workflow_id", "workflows", "CASCADE"),
        _fk("workflow_enrollments", "contact_id", "contacts", "CASCADE"),
    )
    op.create_index(
        "ix_workflow_enrollments_tenant_due", "workflow_enrollments", ["tenant_id", "status", "next_run_at"]
    )
    op.create_index(
        "ix_workflow_enrollments_tenant_contact", "workflow_enrollments", ["tenant_id", "contact_id", "status"]
    )
    op.create_index("ix_workflow_enrollments_tenant_workflow", "workflow_enrollments",
                    ["tenant_id", "workflow_id", "status", "created_at"])  # fmt: skip
    op.create_table(
        "workflow_step_runs",
        *_record("workflow_step_runs"),
        sa.Column("enrollment_id", sa.String(24), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result_type", sa.String(24), nullable=True),
        sa.Column("result_id", sa.String(24), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        _fk("workflow_step_runs", "enrollment_id", "workflow_enrollments", "CASCADE"),
        sa.UniqueConstraint(
            "tenant_id",
            "enrollment_id",
            "step_index",
            "iteration",
            name=_name("uq_workflow_step_runs_tenant_id_enrollment_id_step_index_iteration"),
        ),
    )
    for table in TABLES:
        secure_tenant_table(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
