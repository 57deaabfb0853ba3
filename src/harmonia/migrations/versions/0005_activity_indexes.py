"""Covering indexes for the activity report: it counts a period's messages, notes and stage moves per person, and
with these it reads only the index (measured: 12.4 → 4.3 ms at 100k contacts; docs/benchmarks.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_messages_tenant_created", table_name="messages")
    op.create_index("ix_messages_tenant_activity", "messages",
                    ["tenant_id", "created_at", "direction", "status", "sent_by", "channel"])  # fmt: skip
    op.drop_index("ix_notes_tenant_created", table_name="notes")
    op.create_index("ix_notes_tenant_created_author", "notes", ["tenant_id", "created_at", "author_id"])
    op.create_index("ix_stage_changes_tenant_at", "stage_changes", ["tenant_id", "at", "from_stage_id", "created_by"])


def downgrade() -> None:
    op.drop_index("ix_stage_changes_tenant_at", table_name="stage_changes")
    op.drop_index("ix_notes_tenant_created_author", table_name="notes")
    op.create_index("ix_notes_tenant_created", "notes", ["tenant_id", "created_at"])
    op.drop_index("ix_messages_tenant_activity", table_name="messages")
    op.create_index("ix_messages_tenant_created", "messages", ["tenant_id", "created_at"])
