"""whatsapp templates: one row per version of an event's template in a language

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

import bridge.store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "whatsapp_templates",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("content_sid", sa.String(length=34), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("created_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_type", "language", "digest", name="uq_whatsapp_templates_event_language_digest"),
        sa.UniqueConstraint("event_type", "language", "version", name="uq_whatsapp_templates_event_language_version"),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_templates")
