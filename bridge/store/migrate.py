"""Apply the Alembic migrations programmatically (start-up, the CLI and the tests use it)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from bridge.store.db import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Made by a migration only where the database allows (pg_trgm on PostgreSQL), so the
# models do not declare them and autogenerate must not offer to drop them.
MIGRATION_ONLY_INDEXES = frozenset({"ix_events_search_text_trgm"})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = db.engine
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run on every start (one process at a time)."""
    command.upgrade(alembic_config(db), revision)
