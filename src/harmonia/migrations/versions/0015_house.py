"""The house for the roadmap: sign-in lockout kept on the person's row (every server process sees one count).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia.models.base import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases: a SQLite batch rebuild of `users` would drop its lower(email) unique index,
# which SQLite cannot reflect.
def upgrade() -> None:
    op.add_column("users", sa.Column("failed_signins", sa.Integer(), server_default="0", nullable=False))
    op.add_column("users", sa.Column("locked_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE users DROP COLUMN locked_until")
    op.execute("ALTER TABLE users DROP COLUMN failed_signins")
