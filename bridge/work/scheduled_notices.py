"""The `scheduled_notice` executor: keeps a notice for the client's day's message
(bridge.scheduled.notice_digest sends it), once per key: WHMCS resending a reminder, or the
same event replayed, finds it kept; or drops the waiting ones a later event made pointless (an
invoice paid before its reminder went)."""

from __future__ import annotations

from sqlalchemy import delete

from bridge.core.actions import SCHEDULED_NOTICE_CHANNEL
from bridge.store.insert_new import insert_new
from bridge.store.models import Action, ScheduledNotice
from bridge.work.executors import Executed, Recorder


class ScheduledNoticeKeeper(Recorder):
    channel = SCHEDULED_NOTICE_CHANNEL

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        content = action.content or {}
        if content.get("drop"):
            return self._drop(str(content["drop"]))
        key = str(content["key"])
        row = {
            "key": key,
            "client_id": str(content["client_id"]),
            "kind": str(content["kind"]),
            "values": dict(content.get("values") or {}),
        }
        with self.db.session() as session:
            new = session.scalar(insert_new(session, ScheduledNotice, row, ["key"]).returning(ScheduledNotice.id))
        note = "kept for the client's notices of the day" if new else "already kept: one notice per invoice and kind"
        return Executed(provider_ref=key, detail={"note": note})

    def _drop(self, prefix: str) -> Executed:
        """The notices whose key starts with `prefix` and that no message has told yet."""
        with self.db.session() as session:
            dropped = session.scalars(
                delete(ScheduledNotice)
                .where(ScheduledNotice.key.startswith(prefix, autoescape=True), ScheduledNotice.event_id.is_(None))
                .returning(ScheduledNotice.key)
            ).all()
        note = f"dropped {len(dropped)} waiting notices ({', '.join(dropped)})" if dropped else "no notice was waiting"
        return Executed(provider_ref=prefix, detail={"note": note})
