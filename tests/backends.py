"""Which real database and Redis the suite runs against.

Unset: the embedded defaults (a SQLite file and the bridge's private redis-server).
`BRIDGE_TEST_DATABASE_URL` / `BRIDGE_TEST_REDIS_URL`: a PostgreSQL server (a fresh
database is created for the session and dropped after) and a Redis server (the given
database number is emptied before each test: point it at one used for nothing else).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bridge.ops.redis_embedded import ensure_embedded_redis, stop_embedded_redis

TEST_DATABASE_URL = os.environ.get("BRIDGE_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("BRIDGE_TEST_REDIS_URL", "")


def describe() -> str:
    database = "postgresql" if TEST_DATABASE_URL else "sqlite"
    redis = "system redis" if TEST_REDIS_URL else "embedded redis"
    return f"{database} + {redis}"


@contextmanager
def database_url(tmp: Path) -> Iterator[str]:
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp / 'bridge-test.sqlite3'}"
        return
    server = make_url(TEST_DATABASE_URL).set(drivername="postgresql+psycopg")
    name = f"bridge_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def redis_url(tmp: Path) -> Iterator[str]:
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    instance = tmp / "redis-instance"
    try:
        yield ensure_embedded_redis(instance)
    finally:
        stop_embedded_redis(instance)
