"""Dead letters: Actions that ended `failed` are reported to the staff in batches.

One email per batch (not one per failure) to routing.toml's [staff] emails, listing what
failed since the last batch and why. Each batch is itself an event ("DeadLetters",
source "bridge"), so the log page shows it, its id marks how far the reporting got (the
last action transition it covers), and two relays cannot send the same batch.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from bridge.core.events import InboundEvent
from bridge.core.masking import SYSTEM_CHANNELS, Masker
from bridge.core.states import State
from bridge.services import Services
from bridge.store.models import Action, ActionTransition, Event
from bridge.store.outbox import record_event, store_planned
from hooks.helpers.messaging import planned_email

log = logging.getLogger(__name__)
BATCH_TYPE = "DeadLetters"
MAX_LISTED = 200


def report_dead_letters(svc: Services) -> int:
    """Send one batch for every failure not reported yet; returns how many it covers."""
    staff = svc.catalog.staff.emails
    with svc.db.session() as session:
        last = session.scalar(
            select(Event.payload)
            .where(Event.source == "bridge", Event.type == BATCH_TYPE)
            .order_by(Event.id.desc())
            .limit(1)
        )
        watermark = int((last or {}).get("up_to_transition", 0))
        rows = session.execute(
            select(
                ActionTransition.id,
                Action.id,
                Action.channel,
                Action.hook,
                Event.type,
                Event.id,
                ActionTransition.reason,
                Action.recipient,
            )
            .join(Action, Action.id == ActionTransition.action_id)
            .join(Event, Event.id == Action.event_id)
            .where(ActionTransition.id > watermark, ActionTransition.to_state == str(State.FAILED))
            .where(Event.type != BATCH_TYPE)  # a failed report is not itself reported again
            .order_by(ActionTransition.id)
        ).all()
    if not rows:
        return 0
    if not staff:
        log.warning("%d actions failed; no [staff] emails in routing.toml to report them to", len(rows))
        return 0
    up_to = rows[-1][0]
    lines = [
        f"- event {event_id} {event_type}, action {action_id} ({channel}, {hook}): {_masked(reason, channel, to)}"
        for _, action_id, channel, hook, event_type, event_id, reason, to in rows[:MAX_LISTED]
    ]
    if len(rows) > MAX_LISTED:
        lines.append(f"... and {len(rows) - MAX_LISTED} more")
    link = f"{svc.settings.public_base_url.rstrip('/')}/log/?state=failed" if svc.settings.public_base_url else ""
    body = "\n".join(
        [f"{len(rows)} actions failed and will not be retried by themselves:", "", *lines, "", link or ""]
    ).strip()
    subject = f"[bridge] {len(rows)} failed actions"
    inbound = InboundEvent(
        "bridge", BATCH_TYPE, f"dead-letters:{up_to}", {"up_to_transition": up_to, "count": len(rows)}
    )
    result = record_event(svc.db, inbound, plan_on=None)
    if not result.created:
        return 0  # another relay sent this batch
    planned = [("bridge.scheduled.dead_letters", planned_email(a, {"subject": subject, "body": body})) for a in staff]
    with svc.db.session() as session:
        store_planned(session, svc.queue, result.event_id, planned)
    return len(rows)


def _masked(reason: str, channel: str, recipient: str) -> str:
    # As on the log page: a provider's error quotes the customer's number in full.
    return Masker([] if channel in SYSTEM_CHANNELS else [recipient]).text(reason)
