"""Retention: delete events older than N days with everything hanging from them.

In batches, each its own short transaction, so that the web page and the workers keep
writing meanwhile (no long lock on the tables). Actions, transitions, attempts and audit
entries go with their event (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from bridge.store.db import Database
from bridge.store.models import Event, utcnow

BATCH = 500


def prune(db: Database, days: int, batch: int = BATCH) -> int:
    """Delete events received more than `days` days ago; returns how many."""
    cutoff = utcnow() - timedelta(days=days)
    total = 0
    while True:
        with db.session() as session:
            ids = session.scalars(
                select(Event.id).where(Event.received_at < cutoff).order_by(Event.received_at).limit(batch)
            ).all()
            if not ids:
                return total
            session.execute(delete(Event).where(Event.id.in_(ids)))
        total += len(ids)
