"""Shared by the executors that claim a row before an outside call that must happen once
(bridge.work.payments, bridge.work.orders)."""

from __future__ import annotations

from sqlalchemy import select

from bridge.store.db import Database
from bridge.store.models import Attempt


def attempt_open(db: Database, attempt_id: int | None) -> bool:
    """Whether the attempt that holds a claim is still running (its outcome not written):
    then its worker is making the call right now, and nobody else may."""
    if attempt_id is None:
        return False
    with db.session() as session:
        row = session.execute(select(Attempt.outcome).where(Attempt.id == attempt_id)).first()
    return row is not None and row.outcome is None
