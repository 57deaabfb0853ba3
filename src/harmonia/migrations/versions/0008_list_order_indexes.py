"""The "recently updated" indexes carry the id too, so a list's whole order (`updated_at DESC, id DESC`, the keyset
tie-break) is read from the index and the first page stops after 25 rows.

Without the id, SQLite sorted every row sharing the newest `updated_at`: a freshly seeded million-contact workspace
had 16,869 contacts stamped with one instant, and `contacts_list` took 18 ms instead of 0.4 (docs/benchmarks.md).
Imports stamp many rows alike too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("contacts", "accounts", "opportunities", "conversations")


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_tenant_updated", table_name=table)
        op.create_index(f"ix_{table}_tenant_updated", table, ["tenant_id", "updated_at", "id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_tenant_updated", table_name=table)
        op.create_index(f"ix_{table}_tenant_updated", table, ["tenant_id", "updated_at"])
