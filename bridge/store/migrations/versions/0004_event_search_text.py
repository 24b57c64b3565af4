"""events.search_text: what the log page's search box matches, with a trigram index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:05:00
"""

import logging

import sqlalchemy as sa
from alembic import op

from bridge.store.search import normalise, payload_words

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))
    _backfill()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # pg_trgm makes `ILIKE '%word%'` use an index. It is a trusted extension (PostgreSQL
        # 13+): the database's owner may create it. Without it, search still works, slower.
        with bind.begin_nested() as savepoint:
            try:
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except sa.exc.DBAPIError:
                savepoint.rollback()
                log.warning("pg_trgm is not available: the log's search will scan events")
                return
        bind.exec_driver_sql("CREATE INDEX ix_events_search_text_trgm ON events USING gin (search_text gin_trgm_ops)")


def _backfill() -> None:
    bind = op.get_bind()
    events = sa.table("events", sa.column("id", sa.BigInteger), sa.column("external_id", sa.String),
                      sa.column("payload", sa.JSON), sa.column("search_text", sa.Text))  # fmt: skip
    last = 0
    while True:
        rows = bind.execute(
            sa.select(events.c.id, events.c.external_id, events.c.payload)
            .where(events.c.id > last, events.c.search_text.is_(None))
            .order_by(events.c.id)
            .limit(1000)
        ).all()
        if not rows:
            return
        for row in rows:
            text = normalise([row.external_id, *payload_words(row.payload)])
            bind.execute(events.update().where(events.c.id == row.id).values(search_text=text))
        last = rows[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_events_search_text_trgm")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("search_text")
