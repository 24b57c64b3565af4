"""What staff see of the rows: built here, masked here (bridge.core.masking.Masker).

The event page, the CSV/XLSX export and the JSON API read these, never the rows' own
recipient, error, reason or payload fields, so that a new place that shows an Action shows
it masked without having to remember to. The audited reveal is the one way to an Action's
recipient and message in full (`revealed`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.core.masking import Masker, format_phone, mask_recipient, personal_recipients
from bridge.logpage.queries import EventDetail
from bridge.store.models import Action, AuditEntry, Event


@dataclass(frozen=True)
class ShownTransition:
    at: datetime
    from_state: str | None
    to_state: str
    reason: str


@dataclass(frozen=True)
class ShownAttempt:
    number: int
    started_at: datetime
    duration_ms: float | None
    outcome: str | None
    http_status: int | None
    provider_ref: str | None
    error: str


@dataclass(frozen=True)
class ShownAction:
    id: int
    channel: str
    state: str
    dry_run: bool
    hook: str
    attempts: int
    provider_ref: str | None
    replay_of_id: int | None
    recipient: str
    revealed: bool
    can_reveal: bool  # masking hid something: a reveal would show more
    last_error: str
    subject: str
    body: str
    content_sid: str
    transitions: list[ShownTransition]
    attempt_rows: list[ShownAttempt]


@dataclass(frozen=True)
class ShownAudit:
    at: datetime
    staff_email: str
    verb: str
    action_id: int | None
    detail: str


@dataclass(frozen=True)
class ShownEvent:
    event: Event  # its id, source, type, client, times: nothing personal; never its payload
    payload_json: str
    actions: list[ShownAction]
    audit: list[ShownAudit]


def shown_event(detail: EventDetail, revealed: frozenset[int], staff_emails: frozenset[str]) -> ShownEvent:
    """The event page: every Action's recipient is masked in every other text of the event
    (another Action's error, the payload) as much as in its own."""
    masker = Masker([*personal_recipients(detail.actions), *_sender(detail.event)], keep=staff_emails)
    actions = [
        _action(a, masker, a.id in revealed, detail.transitions[a.id], detail.attempts[a.id]) for a in detail.actions
    ]
    return ShownEvent(
        event=detail.event,
        payload_json=pretty_json(masker.payload(detail.event.payload)),
        actions=actions,
        audit=[_audit(entry, masker) for entry in detail.audit],
    )


def _sender(event: Event) -> list[str]:
    """A customer's WhatsApp message names its sender (bridge.inbound.twilio_inbound): masked
    like any recipient, however Twilio wrote it (`whatsapp:+549…`, WaId `549…`)."""
    number = event.payload.get("number") if isinstance(event.payload, dict) else None
    return [number] if isinstance(number, str) else []


def shown_row(action: Action) -> dict[str, Any]:
    """The personal fields of an Action as an export row or the API shows them (`last_error`
    None when there is none)."""
    masker = Masker(personal_recipients([action]))
    error = masker.text(action.last_error) if action.last_error is not None else None
    return {"recipient": mask_recipient(action.recipient, action.channel), "last_error": error}


def pretty_json(value: Any) -> str:
    """Readable JSON for staff: accents as they are, not \\u escapes (Jinja escapes the HTML)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _action(action: Action, masker: Masker, revealed: bool, transitions: list[Any], attempts: list[Any]) -> ShownAction:
    masked = mask_recipient(action.recipient, action.channel)
    content = action.content or {}
    message = str if revealed else masker.text
    return ShownAction(
        id=action.id,
        channel=action.channel,
        state=action.state,
        dry_run=action.dry_run,
        hook=action.hook,
        attempts=action.attempts,
        provider_ref=action.provider_ref,
        replay_of_id=action.replay_of_id,
        recipient=_in_full(action.recipient) if revealed else masked,
        revealed=revealed,
        can_reveal=masked != action.recipient,
        last_error=masker.text(action.last_error),
        subject=message(content.get("subject") or ""),
        body=message(content.get("body") or ""),
        content_sid=str(content.get("content_sid") or ""),
        transitions=[ShownTransition(t.at, t.from_state, t.to_state, masker.text(t.reason)) for t in transitions],
        attempt_rows=[
            ShownAttempt(
                a.number, a.started_at, a.duration_ms, a.outcome, a.http_status, a.provider_ref, masker.text(a.error)
            )
            for a in attempts
        ],
    )


def _in_full(recipient: str) -> str:
    return format_phone(recipient) if recipient.startswith("+") else recipient


def _audit(entry: AuditEntry, masker: Masker) -> ShownAudit:
    # The detail of a bulk retry names its filters, a searched phone number among them.
    return ShownAudit(entry.at, entry.staff_email, entry.verb, entry.action_id, masker.text(entry.detail or ""))
