"""Alembic environment: the engine comes from bridge.store.migrate (never from an ini file)."""

from alembic import context

from bridge.store.migrate import include_object
from bridge.store.models import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
