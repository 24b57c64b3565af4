"""whatsapp numbers (24-hour window, consent), the phones known per client, conversations

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:30:00
"""

import sqlalchemy as sa
from alembic import op

import bridge.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "whatsapp_numbers",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("last_inbound_at", bridge.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("consent_changed_at", bridge.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consent_keyword", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_table(
        "known_phones",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("seen_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", "client_id", name="uq_known_phones_number_client_id"),
    )
    with op.batch_alter_table("known_phones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_known_phones_number"), ["number"], unique=False)
    op.create_table(
        "whatsapp_conversations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.String(length=32), nullable=False),
        sa.Column("ticket_number", sa.String(length=32), nullable=False),
        sa.Column("ticket_code", sa.String(length=32), nullable=False),
        sa.Column("opened_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("whatsapp_conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whatsapp_conversations_number"), ["number"], unique=False)
        batch_op.create_index(batch_op.f("ix_whatsapp_conversations_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whatsapp_conversations_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_whatsapp_conversations_number"))
    op.drop_table("whatsapp_conversations")
    with op.batch_alter_table("known_phones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_known_phones_number"))
    op.drop_table("known_phones")
    op.drop_table("whatsapp_numbers")
