"""Outbound comms: the idempotency digest on messages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("idempotency_digest", sa.String(length=64), nullable=True))
        batch.create_index("ix_messages_tenant_idempotency", ["tenant_id", "idempotency_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_tenant_idempotency")
        batch.drop_column("idempotency_digest")
