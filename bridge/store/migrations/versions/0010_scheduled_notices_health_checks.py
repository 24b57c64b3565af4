"""scheduled_notices (reminders and renewals, one per key), health_checks, a debit
request's outcome and an adhesion's leaving the debit group

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:30:00
"""

import sqlalchemy as sa
from alembic import op

import bridge.store.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scheduled_notices",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("created_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_scheduled_notices_key"),
    )
    with op.batch_alter_table("scheduled_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scheduled_notices_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scheduled_notices_event_id"), ["event_id"], unique=False)
    op.create_table(
        "health_checks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("checked_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("card_adhesions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("left_group_at", bridge.store.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("debit_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("debit_requests", schema=None) as batch_op:
        batch_op.drop_column("outcome")
    with op.batch_alter_table("card_adhesions", schema=None) as batch_op:
        batch_op.drop_column("left_group_at")
    op.drop_table("health_checks")
    with op.batch_alter_table("scheduled_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_notices_event_id"))
        batch_op.drop_index(batch_op.f("ix_scheduled_notices_client_id"))
    op.drop_table("scheduled_notices")
