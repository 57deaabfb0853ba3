"""The send path under load and faults (issue 12): delivery leases and the gate's rule on messages, one send per
idempotency key (a unique index), one stored inbound callback per provider id, the append-only consent history, and
the installation's own values (the email-event webhook key).

`installation` sits above tenants (one row per value of this install); the application role may read it and add
to it, never change or remove a value. `consent_events` is append-only: a trigger refuses every UPDATE and DELETE of
a row, on both databases (as `audit_events` on PostgreSQL).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harmonia.migrations.security import grant_app, secure_tenant_table
from harmonia.models.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_IDEM = "idempotency_key IS NOT NULL"
_INBOUND = "direction = 'inbound' AND provider_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("rule", sa.String(32), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("leased_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("draft_id", sa.String(24), nullable=True))
        batch.drop_index("ix_messages_tenant_idempotency")
    # Keys reused before the index existed: keep the first use, forget the key on later rows.
    op.execute(
        "UPDATE messages SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND EXISTS (SELECT 1 FROM "
        "messages m2 WHERE m2.tenant_id = messages.tenant_id AND m2.idempotency_key = messages.idempotency_key "
        "AND (m2.created_at < messages.created_at OR (m2.created_at = messages.created_at AND m2.id < messages.id)))"
    )
    op.execute(
        "UPDATE messages SET provider_id = NULL WHERE direction = 'inbound' AND provider_id IS NOT NULL AND EXISTS "
        "(SELECT 1 FROM messages m2 WHERE m2.tenant_id = messages.tenant_id AND m2.direction = 'inbound' AND "
        "m2.provider_id = messages.provider_id AND m2.id < messages.id)"
    )
    op.create_index("uq_messages_tenant_idempotency", "messages", ["tenant_id", "idempotency_key"], unique=True,
                    sqlite_where=sa.text(_IDEM), postgresql_where=sa.text(_IDEM))  # fmt: skip
    op.create_index("uq_messages_tenant_inbound_provider", "messages", ["tenant_id", "provider_id"], unique=True,
                    sqlite_where=sa.text(_INBOUND), postgresql_where=sa.text(_INBOUND))  # fmt: skip
    op.create_index("ix_messages_tenant_due", "messages", ["tenant_id", "status", "leased_until"])

    op.create_table(
        "consent_events",
        sa.Column("tenant_id", sa.String(24), nullable=False),
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("contact_id", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("from_value", sa.String(16), nullable=True),
        sa.Column("to_value", sa.String(16), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("given_at", UTCDateTime(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("user_id", sa.String(24), nullable=True),
        sa.Column("client", sa.String(120), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_consent_events_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_consent_events"),
    )
    op.create_index("ix_consent_events_tenant_contact", "consent_events", ["tenant_id", "contact_id", "channel", "at"])
    secure_tenant_table("consent_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the consent history is append-only'; END $$""")
        op.execute("CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events "
                   "FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()")  # fmt: skip
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER consent_events_no_{event.lower()} BEFORE {event} ON consent_events "
                       "BEGIN SELECT RAISE(ABORT, 'the consent history is append-only'); END")  # fmt: skip

    op.create_table(
        "installation",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_installation"),
    )
    grant_app("installation", "SELECT, INSERT")


def downgrade() -> None:
    op.drop_table("installation")
    op.drop_table("consent_events")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS consent_events_append_only()")
    op.drop_index("ix_messages_tenant_due", "messages")
    op.drop_index("uq_messages_tenant_inbound_provider", "messages")
    op.drop_index("uq_messages_tenant_idempotency", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.create_index("ix_messages_tenant_idempotency", ["tenant_id", "idempotency_key"], unique=False)
        batch.drop_column("draft_id")
        batch.drop_column("leased_until")
        batch.drop_column("lease_owner")
        batch.drop_column("rule")
