"""INSERT ... ON CONFLICT DO NOTHING, the same on PostgreSQL and SQLite: the insert itself
says whether the row is new, with no read before the write (a read could be overtaken)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def insert_new(
    on: Session | Connection, model: type | Table, values: dict[str, Any] | list[dict[str, Any]], unique: Sequence[str]
) -> Any:
    """The statement that adds `values` unless a row with the same `unique` columns exists;
    add `.returning(...)` to learn which rows were new."""
    insert = postgresql_insert if dialect_of(on) == "postgresql" else sqlite_insert
    return insert(model).values(values).on_conflict_do_nothing(index_elements=list(unique))


def dialect_of(on: Session | Connection) -> str:
    """ "postgresql" or "sqlite": the backend a session or connection talks to."""
    return (on.dialect if isinstance(on, Connection) else on.get_bind().dialect).name
