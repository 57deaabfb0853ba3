"""Send confirmations: the preview of a send to several recipients, confirmed by id in a second call.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia.migrations.security import secure_tenant_table
from harmonia.models.base import Json, UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_confirmations",
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("contact_ids", Json(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(24), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("message_ids", Json(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(24), nullable=True),
        sa.Column("created_via", sa.String(16), nullable=True),
        sa.Column("created_client", sa.String(80), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_send_confirmations_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_send_confirmations"),
    )
    secure_tenant_table("send_confirmations")


def downgrade() -> None:
    op.drop_table("send_confirmations")
