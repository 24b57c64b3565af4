"""debit_payments: the claim on adding a Pagos360 debit's payment to WHMCS, one per debit

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:30:00
"""

import sqlalchemy as sa
from alembic import op

import bridge.store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "debit_payments",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("pagos360_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("action_id", BIG_ID, nullable=True),
        sa.Column("attempt_id", BIG_ID, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("claimed_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", bridge.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["actions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pagos360_id", name="uq_debit_payments_pagos360_id"),
    )
    with op.batch_alter_table("debit_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_debit_payments_action_id"), ["action_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("debit_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debit_payments_action_id"))
    op.drop_table("debit_payments")
