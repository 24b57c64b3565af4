"""Staff sessions kept on the server, so that they can be ended there.

Flask's session is a signed cookie: the server cannot take it back, and a copy of it
would outlive a logout. So the cookie carries only a random token, the database keeps
its SHA-256 (a StaffSession row), and every request looks the row up. Deleting the row
ends the session at the browser's next request, wherever the cookie has gone.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bridge.store.models import StaffSession, StaffUser


@dataclass(frozen=True)
class SessionOwner:
    """Who a live session belongs to."""

    staff_id: int
    email: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, staff_id: int) -> str:
    """A new session for the account; returns the token to put in the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(staff_id=staff_id, token_hash=_digest(token)))
    return token


def session_owner(session: Session, token: str) -> SessionOwner | None:
    """The active account the token's session belongs to, or None if it was ended."""
    row = session.execute(
        select(StaffUser.id, StaffUser.email)
        .join(StaffSession, StaffSession.staff_id == StaffUser.id)
        .where(StaffSession.token_hash == _digest(token), StaffUser.active.is_(True))
    ).first()
    return SessionOwner(row.id, row.email) if row is not None else None


def end_session(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


def end_all_sessions(session: Session, staff_id: int) -> int:
    """End every session of the account (a new password, a deactivation); how many ended."""
    result = session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
    return result.rowcount or 0  # type: ignore[attr-defined]
