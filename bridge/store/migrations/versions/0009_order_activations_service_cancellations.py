"""order_activations (the claim on accepting a WHMCS order, one per order) and
service_cancellations (what the debit cycle stops debiting)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:00:00
"""

import sqlalchemy as sa
from alembic import op

import bridge.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "order_activations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("action_id", BIG_ID, nullable=True),
        sa.Column("attempt_id", BIG_ID, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("claimed_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", bridge.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["actions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", name="uq_order_activations_order_id"),
    )
    with op.batch_alter_table("order_activations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_activations_action_id"), ["action_id"], unique=False)
    op.create_table(
        "service_cancellations",
        sa.Column("service_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("immediate", sa.Boolean(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("requested_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("service_id"),
    )


def downgrade() -> None:
    op.drop_table("service_cancellations")
    with op.batch_alter_table("order_activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_activations_action_id"))
    op.drop_table("order_activations")
