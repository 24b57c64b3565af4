"""Staff accounts: argon2 password hashes, the Flask-Login user, and logins.

A login checks the password only after taking one of the login limit's slots
(bridge.logpage.login_limit), so the limit holds across web processes and restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import LoginManager, UserMixin
from sqlalchemy import select, update

from bridge.db import Database
from bridge.logpage.login_limit import LoginLimit, LoginLimited, clear_slots, take_slot
from bridge.models import StaffUser
from bridge.services import services

__all__ = ["LoginLimit", "LoginLimited", "Staff", "WrongCredentials", "authenticate", "login_manager"]

MIN_PASSWORD_LENGTH = 10
hasher = PasswordHasher()
# Verified against when the email is unknown, so that both cases take the same time.
_DUMMY_HASH = hasher.hash("not a real password, only for timing")
log = logging.getLogger("bridge.logpage.auth")

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


class WrongCredentials(ValueError):
    """The email is unknown, the account inactive, or the password wrong (said alike)."""


@login_manager.user_loader
def _load(user_id: str) -> Staff | None:
    if not user_id.isdigit():
        return None
    with services().db.session() as session:
        user = session.get(StaffUser, int(user_id))
        return Staff(user.id, user.email) if user is not None and user.active else None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")


def create_staff(db: Database, email: str, password: str) -> int:
    """Add a staff account; raises ValueError for a short password or a taken email."""
    email = normalise_email(email)
    if "@" not in email:
        raise ValueError("not an email address")
    _check_new_password(password)
    with db.session() as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
            raise ValueError(f"{email} already has an account")
        user = StaffUser(email=email, password_hash=hasher.hash(password))
        session.add(user)
        session.flush()
        return user.id


def check_password(db: Database, email: str, password: str, address: str, limit: LoginLimit) -> tuple[int, str]:
    """(id, email) of the active account these credentials open.

    Raises LoginLimited, before looking at the password, when (email, address) has no
    check left in the window; WrongCredentials otherwise when they are wrong (the check
    then stays counted). Each password checked is logged, right or wrong.
    """
    email = normalise_email(email)[:320]
    address = address[:64]
    take_slot(db, email, address, limit)
    with db.session() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    # Checked outside any transaction: argon2 takes tens of milliseconds, on purpose.
    verified = _verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    right = user is not None and user.active and verified
    log.info("password checked for %s from %s: %s", email, address, "right" if right else "wrong")
    if user is None or not right:
        raise WrongCredentials("wrong email or password")
    with db.session() as session:
        clear_slots(session, email, address)
        if hasher.check_needs_rehash(user.password_hash):
            rehashed = hasher.hash(password)
            session.execute(update(StaffUser).where(StaffUser.id == user.id).values(password_hash=rehashed))
    return user.id, user.email


def authenticate(db: Database, email: str, password: str, address: str, *, max_failures: int, window: int) -> Staff:
    """The staff member these credentials belong to.

    Raises LoginLimited when the limit is reached, WrongCredentials (a ValueError) when
    the credentials are wrong.
    """
    staff_id, staff_email = check_password(db, email, password, address, LoginLimit(max_failures, window))
    return Staff(staff_id, staff_email)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
