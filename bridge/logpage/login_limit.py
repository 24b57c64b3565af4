"""The login limit: at most LOGIN_MAX_FAILURES passwords checked per (email, address) and
LOGIN_WINDOW_SECONDS, exactly, however many web processes receive attempts at once.

Counting refusals after the password check (read the count, check, then write) lets every
request that read the count before the others wrote theirs through: 30 parallel guesses
would all be checked. Here each check first takes one numbered slot, 1..LOGIN_MAX_FAILURES,
with one atomic statement against the unique (email, address, slot) key; a request that
finds no free slot is refused without its password being looked at. A wrong password keeps
its slot until the window has passed; a right one clears them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bridge.store.db import Database
from bridge.store.models import LoginFailure, utcnow


@dataclass(frozen=True)
class LoginLimit:
    """LOGIN_MAX_FAILURES and LOGIN_WINDOW_SECONDS."""

    max_failures: int
    window_seconds: int


class LoginLimited(Exception):
    """Too many refused logins for this account from this address."""


def take_slot(db: Database, email: str, address: str, limit: LoginLimit) -> None:
    """Reserve one password check for (email, address), or raise LoginLimited.

    The reservation is committed before returning, so it counts as a refusal even if the
    process dies during the check. Each try that loses a slot to another request means
    that request took one, so a few tries always settle.
    """
    for _ in range(limit.max_failures + 1):
        now = utcnow()
        since = now - timedelta(seconds=limit.window_seconds)
        # Read in its own transaction, write in another that starts with the write: on
        # SQLite a read transaction that later writes can fail at once instead of waiting.
        with db.session() as session:
            taken = set(
                session.scalars(
                    select(LoginFailure.slot).where(
                        LoginFailure.email == email, LoginFailure.address == address, LoginFailure.at >= since
                    )
                )
            )
        if len(taken) >= limit.max_failures:
            raise LoginLimited(email)
        free = min(set(range(1, limit.max_failures + 1)) - taken)
        with db.session() as session:
            if _claim(session, email, address, free, now, since):
                return
    raise LoginLimited(email)


def _claim(session: Session, email: str, address: str, slot: int, now: datetime, since: datetime) -> bool:
    """INSERT the slot, or take it over if its last refusal is older than the window; one
    statement, so two requests never both get it. PostgreSQL and SQLite both speak it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(LoginFailure).values(email=email, address=address, slot=slot, at=now)
    claim = statement.on_conflict_do_update(
        index_elements=["email", "address", "slot"],
        set_={"at": statement.excluded.at},
        where=LoginFailure.__table__.c.at < since,
    ).returning(LoginFailure.id)
    return session.scalar(claim) is not None


def clear_slots(session: Session, email: str, address: str) -> None:
    """A right password: the refusals of (email, address) are forgiven."""
    session.execute(delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.address == address))
