"""OAuth 2.1 (SPEC §9): client registrations and authorization codes (above tenants — see models/oauth.py for why),
and the columns that let access_tokens hold OAuth access and refresh tokens beside static hm_ tokens.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia.migrations.security import grant_app
from harmonia.models.base import Json, UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("redirect_uris", Json(), nullable=False),
        sa.Column("document", Json(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name="pk_oauth_clients"),
    )
    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(512), nullable=False),
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("user_id", sa.String(24), nullable=False),
        sa.Column("scopes", Json(), nullable=False),
        sa.Column("redirect_uri", sa.String(2000), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("family_id", sa.String(24), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_oauth_codes_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_oauth_codes"),
    )
    op.create_index("ix_oauth_codes_expires_at", "oauth_codes", ["expires_at"])
    # Above tenants: the token endpoint reads them before it knows a workspace (no row-level security).
    grant_app("oauth_clients")
    grant_app("oauth_codes")
    op.add_column("access_tokens", sa.Column("kind", sa.String(8), server_default="static", nullable=False))
    op.add_column("access_tokens", sa.Column("client_id", sa.String(512), nullable=True))
    op.add_column("access_tokens", sa.Column("resource", sa.String(512), nullable=True))
    op.add_column("access_tokens", sa.Column("family_id", sa.String(24), nullable=True))
    op.create_index("ix_access_tokens_tenant_id_family_id", "access_tokens", ["tenant_id", "family_id"])


def downgrade() -> None:
    op.drop_index("ix_access_tokens_tenant_id_family_id", "access_tokens")
    with op.batch_alter_table("access_tokens") as batch:
        for column in ("family_id", "resource", "client_id", "kind"):
            batch.drop_column(column)
    op.drop_table("oauth_codes")
    op.drop_table("oauth_clients")
