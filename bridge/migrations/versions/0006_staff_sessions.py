"""login attempt slots

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02 04:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

def upgrade() -> None:
    # The rows counted refused logins without a slot; they only matter for one window
    # (LOGIN_WINDOW_SECONDS), so they are dropped rather than numbered.
    op.execute("DELETE FROM login_failures")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot", sa.Integer(), nullable=False))
        batch_op.create_unique_constraint("uq_login_failures_email_address_slot", ["email", "address", "slot"])


def downgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_constraint("uq_login_failures_email_address_slot", type_="unique")
        batch_op.drop_column("slot")

