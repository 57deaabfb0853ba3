"""Domain events (the outbox of changes others react to): written in the transaction of the change, handed to
in-process handlers after commit, and read durably by the workflow engine.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia.migrations.security import secure_tenant_table
from harmonia.models.base import Json, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_events",
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("name", sa.String(48), nullable=False),
        sa.Column("subject_type", sa.String(24), nullable=True),
        sa.Column("subject_id", sa.String(24), nullable=True),
        sa.Column("data", Json(), nullable=False),
        sa.Column("actor_user_id", sa.String(24), nullable=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("client", sa.String(120), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_domain_events_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_domain_events"),
    )
    op.create_index("ix_domain_events_tenant_pending", "domain_events", ["tenant_id", "processed_at", "at"])
    op.create_index("ix_domain_events_tenant_subject", "domain_events", ["tenant_id", "subject_id", "at"])
    secure_tenant_table("domain_events")


def downgrade() -> None:
    op.drop_table("domain_events")
