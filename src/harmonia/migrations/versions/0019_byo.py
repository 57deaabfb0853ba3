"""Bring-your-own tools: a workspace's secrets (vault ciphertext), HTTP tools and upstream MCP servers.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from harmonia.migrations.security import secure_tenant_table
from harmonia.models.base import Json, UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = ("tenant_secrets", "tenant_tools", "tenant_upstreams")


def _record(table: str) -> list[Any]:
    """The columns and keys every tenant record has (models.base.TenantScoped), and its unique name."""
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
        sa.UniqueConstraint("tenant_id", "name", name=f"uq_{table}_tenant_id_name"),
    ]


def upgrade() -> None:
    op.create_table(
        "tenant_secrets",
        *_record("tenant_secrets"),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(24), nullable=False),
    )
    op.create_table(
        "tenant_tools",
        *_record("tenant_tools"),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("input_schema", Json(), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("url_template", sa.String(2000), nullable=False),
        sa.Column("headers", Json(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("max_bytes", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("sends", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "tenant_upstreams",
        *_record("tenant_upstreams"),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("headers", Json(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("sending_tools", Json(), nullable=False),
    )
    for table in TABLES:
        secure_tenant_table(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
