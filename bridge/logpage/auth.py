"""Staff accounts: argon2 password hashes, the Flask-Login user, logins and passwords.

A login checks the password only after taking one of the login limit's slots
(bridge.logpage.login_limit), and a right one opens a session kept on the server
(bridge.logpage.sessions): Flask-Login's user loader looks it up on every request, so a
logout, a new password or a deactivation takes effect at the next request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import LoginManager, UserMixin
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bridge.logpage.login_limit import LoginLimit, LoginLimited, clear_slots, take_slot
from bridge.logpage.sessions import end_all_sessions, session_owner, start_session
from bridge.services import services
from bridge.store.db import Database
from bridge.store.models import StaffUser

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
    """The logged-in staff member, as the views see it, with the session they came in by."""

    id: int
    email: str
    session_token: str

    def get_id(self) -> str:
        # What Flask-Login keeps in the cookie: the server session's token, not the
        # account id, so that ending the session on the server ends the cookie with it.
        return self.session_token


class WrongCredentials(ValueError):
    """The email is unknown, the account inactive, or the password wrong (said alike)."""


@login_manager.user_loader
def _load(token: str) -> Staff | None:
    with services().db.session() as session:
        owner = session_owner(session, token)
    return Staff(owner.staff_id, owner.email, token) if owner is not None else None


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


def set_password(db: Database, email: str, password: str) -> int:
    """Give the account a new password and end every session of it; returns the account id.

    Raises ValueError for a short password or an unknown email."""
    _check_new_password(password)
    new_hash = hasher.hash(password)
    with db.session() as session:
        staff_id = _account_id(session, email)
        session.execute(update(StaffUser).where(StaffUser.id == staff_id).values(password_hash=new_hash))
        end_all_sessions(session, staff_id)
    return staff_id


def set_active(db: Database, email: str, active: bool) -> None:
    """Allow or stop the account's logins; stopping also ends its sessions.

    Raises ValueError for an unknown email."""
    with db.session() as session:
        staff_id = _account_id(session, email)
        session.execute(update(StaffUser).where(StaffUser.id == staff_id).values(active=active))
        if not active:
            end_all_sessions(session, staff_id)


def _account_id(session: Session, email: str) -> int:
    staff_id = session.scalar(select(StaffUser.id).where(StaffUser.email == normalise_email(email)))
    if staff_id is None:
        raise ValueError(f"no staff account for {normalise_email(email)}")
    return int(staff_id)


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


def authenticate(db: Database, email: str, password: str, address: str, limit: LoginLimit) -> Staff:
    """The staff member these credentials belong to, in a new server session.

    Raises LoginLimited when the limit is reached, WrongCredentials (a ValueError) when
    the credentials are wrong.
    """
    staff_id, staff_email = check_password(db, email, password, address, limit)
    with db.session() as session:
        token = start_session(session, staff_id)
    return Staff(staff_id, staff_email, token)


def change_own_password(db: Database, staff: Staff, current: str, new: str, address: str, limit: LoginLimit) -> Staff:
    """A logged-in staff member's new password: the current one is checked as a login is
    (same limit), every session of the account ends, and this browser gets a new one.

    Raises ValueError for a short new password (nothing checked, nothing counted),
    LoginLimited or WrongCredentials as check_password does.
    """
    _check_new_password(new)
    check_password(db, staff.email, current, address, limit)
    set_password(db, staff.email, new)
    with db.session() as session:
        token = start_session(session, staff.id)
    return Staff(staff.id, staff.email, token)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
