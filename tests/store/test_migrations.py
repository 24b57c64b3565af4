"""The Alembic migrations build exactly the schema the models describe, and go back down."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from bridge.store.db import Database
from bridge.store.migrate import alembic_config, include_object, upgrade
from bridge.store.models import Base


def test_models_and_migrations_agree(database_url):
    db = Database(database_url)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    db.dispose()
    assert diff == []


def test_upgrade_downgrade_upgrade_on_a_fresh_sqlite(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    upgrade(db)
    command.downgrade(alembic_config(db), "base")
    upgrade(db)
    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
    db.dispose()


def test_the_search_column_is_trigram_indexed_on_postgresql(database_url):
    db = Database(database_url)
    with db.engine.connect() as connection:
        assert "search_text" in connection.exec_driver_sql("SELECT * FROM events LIMIT 0").keys()
        if db.backend == "postgresql":  # SQLite has no trigram index: its search scans
            found = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_search_text_trgm'"
            ).scalar()
            assert found is not None and "gin_trgm_ops" in found
    db.dispose()
