"""staff sessions on the server, login attempt slots, revocable api tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:10:00
"""

import sqlalchemy as sa
from alembic import op

import bridge.store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("staff_id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", bridge.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_staff_id"), ["staff_id"], unique=False)

    # The rows counted refused logins without a slot; they only matter for one window
    # (LOGIN_WINDOW_SECONDS), so they are dropped rather than numbered.
    op.execute("DELETE FROM login_failures")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot", sa.Integer(), nullable=False))
        batch_op.create_unique_constraint("uq_login_failures_email_address_slot", ["email", "address", "slot"])

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", bridge.store.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")

    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_constraint("uq_login_failures_email_address_slot", type_="unique")
        batch_op.drop_column("slot")

    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_staff_id"))
    op.drop_table("staff_sessions")
