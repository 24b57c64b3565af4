"""action_transitions indexed on (action_id, id), instead of action_id alone

An Action's latest transition (`WHERE action_id = ? ORDER BY id DESC LIMIT 1`, read by every
move from several states) is then one index probe. With the single-column index PostgreSQL
could prefer walking the primary key backwards, filtering on action_id: 50 ms a move on
210,000 transitions when the worker reached Actions queued long before (issue 16's soak).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:40:00
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("action_transitions", schema=None) as batch_op:
        batch_op.create_index("ix_action_transitions_action_id_id", ["action_id", "id"], unique=False)
        batch_op.drop_index("ix_action_transitions_action_id")


def downgrade() -> None:
    with op.batch_alter_table("action_transitions", schema=None) as batch_op:
        batch_op.create_index("ix_action_transitions_action_id", ["action_id"], unique=False)
        batch_op.drop_index("ix_action_transitions_action_id_id")
