"""Staff accounts: argon2 password hashes, the Flask-Login user, and the login limit.

The limit counts refused logins per (email, client address) in the database, so it holds
across web processes and restarts: after LOGIN_MAX_FAILURES within LOGIN_WINDOW_SECONDS
even the right password is refused until the window has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import LoginManager, UserMixin
from sqlalchemy import delete, func, select

from bridge.db import Database
from bridge.models import LoginFailure, StaffUser, utcnow
from bridge.services import services

MIN_PASSWORD_LENGTH = 10
hasher = PasswordHasher()
# Verified against when the email is unknown, so that both cases take the same time.
_DUMMY_HASH = hasher.hash("not a real password, only for timing")

login_manager = LoginManager()
login_manager.login_view = "logpage.login"
login_manager.login_message = "Please log in to see the delivery log."
login_manager.session_protection = "basic"


@dataclass(frozen=True)
class Staff(UserMixin):
    """The logged-in staff member, as the views see it."""

    id: int
    email: str

    def get_id(self) -> str:
        return str(self.id)


class LoginLimited(Exception):
    """Too many refused logins for this account from this address."""


@login_manager.user_loader
def _load(user_id: str) -> Staff | None:
    if not user_id.isdigit():
        return None
    with services().db.session() as session:
        user = session.get(StaffUser, int(user_id))
        return Staff(user.id, user.email) if user is not None and user.active else None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_staff(db: Database, email: str, password: str) -> int:
    """Add a staff account; raises ValueError for a short password or a taken email."""
    email = normalise_email(email)
    if "@" not in email:
        raise ValueError("not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    with db.session() as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
            raise ValueError(f"{email} already has an account")
        user = StaffUser(email=email, password_hash=hasher.hash(password))
        session.add(user)
        session.flush()
        return user.id


def authenticate(db: Database, email: str, password: str, address: str, *, max_failures: int, window: int) -> Staff:
    """The staff member these credentials belong to.

    Raises LoginLimited when the limit is reached, ValueError when the credentials are wrong
    (each such refusal is counted).
    """
    email = normalise_email(email)[:320]
    address = address[:64]
    since = utcnow() - timedelta(seconds=window)
    with db.session() as session:
        recent = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.email == email, LoginFailure.address == address, LoginFailure.at >= since)
        )
        if (recent or 0) >= max_failures:
            raise LoginLimited(email)
        user = session.scalar(select(StaffUser).where(StaffUser.email == email))
        verified = _verify(user.password_hash if user is not None else _DUMMY_HASH, password)
        if user is None or not user.active or not verified:
            session.add(LoginFailure(email=email, address=address))
            raise_after_commit = True
        else:
            raise_after_commit = False
            session.execute(delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.address == address))
            if hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hasher.hash(password)
            staff = Staff(user.id, user.email)
    if raise_after_commit:  # raised outside the transaction, so that the failure row is kept
        raise ValueError("wrong email or password")
    return staff


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
