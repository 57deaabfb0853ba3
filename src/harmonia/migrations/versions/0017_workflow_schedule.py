"""Schedule triggers: the last cron tick a workflow enrolled for, so a tick enrolls once however many workers scan.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia.models.base import UTCDateTime

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workflows", sa.Column("scheduled_through", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE workflows DROP COLUMN scheduled_through")
