"""The last result of each check of WHMCS's set-up (bridge.store.models.HealthCheck)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridge.store.models import HealthCheck, utcnow


def record_check(session: Session, name: str, ok: bool, detail: str) -> None:
    row = session.get(HealthCheck, name) or HealthCheck(name=name)
    row.ok, row.detail, row.checked_at = ok, detail, utcnow()
    session.add(row)


def last_check(session: Session, name: str) -> HealthCheck | None:
    return session.get(HealthCheck, name)
