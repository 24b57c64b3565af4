"""The `whatsapp_ticket` executor: a customer's WhatsApp message into a WHMCS ticket.

Decided when the Action runs, not when it was planned, so that messages a few seconds
apart land on one ticket: a reply (AddTicketReply) on the ticket the conversation opened
while the conversation lasts and WHMCS says the ticket is not closed, otherwise a new ticket
(OpenTicket) in routing's `[inbound] ticket_department_id` (unset: the first department
GetSupportDepartments lists). Photos and documents are downloaded from Twilio with the
account's credentials (staff could not open Twilio's media links) and attached.

A WHMCS that is down makes the Action retry like any send: the message is never lost. A new
conversation's acknowledgement to the customer, when the hook rendered one, is this
Action's follow-up, so it goes once per conversation and only once a ticket exists.

Known limit: OpenTicket is not idempotent. WHMCS timing out after it received the call
leaves the outcome unknown, and the retry may open a second ticket. Two messages
carried out by two workers in the same instant may also open two tickets.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests

from bridge.core.actions import TICKET_CHANNEL, PlannedAction
from bridge.store.db import Database
from bridge.store.models import Action, WhatsAppConversation, utcnow
from bridge.store.whatsapp_numbers import current_conversation, touch_conversation
from bridge.work.executors import Executed
from providers.base import ProviderError, transient_http_status
from providers.whmcs_api import WhmcsApi, whmcs_rows

MAX_MEDIA_BYTES = 10 * 1024 * 1024  # WHMCS's usual upload limit; a larger file is left out, said so
SUBJECT_CHARACTERS = 60


@dataclass(frozen=True)
class MediaFetcher:
    """Downloads a message's media from Twilio, with the account's credentials."""

    account_sid: str
    auth_token: str
    timeout: float = 20.0

    def fetch(self, media: Iterable[dict[str, Any]]) -> tuple[list[dict[str, str]], list[str]]:
        """(WHMCS attachments [{name, data}], notes on what was left out). Raises a transient
        ProviderError when Twilio cannot be reached or is busy, so the message is retried."""
        attachments: list[dict[str, str]] = []
        notes: list[str] = []
        for index, medium in enumerate(media, start=1):
            url, kind = str(medium.get("url") or ""), str(medium.get("content_type") or "")
            if not url:
                notes.append(f"attachment {index} ({kind or 'unknown type'}) came without a link and was left out")
                continue
            try:
                answer = requests.get(url, auth=(self.account_sid, self.auth_token), timeout=self.timeout)
            except requests.RequestException as exc:
                raise ProviderError(f"Twilio media unreachable: {type(exc).__name__}", permanent=False) from exc
            if answer.status_code != 200:
                if transient_http_status(answer.status_code):
                    raise ProviderError(f"Twilio media answered HTTP {answer.status_code}", permanent=False)
                notes.append(f"attachment {index} could not be downloaded from Twilio (HTTP {answer.status_code})")
                continue
            if len(answer.content) > MAX_MEDIA_BYTES:
                notes.append(f"attachment {index} ({len(answer.content)} bytes) is too large and was left out")
                continue
            kind = kind or answer.headers.get("Content-Type", "")
            extension = mimetypes.guess_extension(kind.split(";")[0].strip()) or ""
            data = base64.b64encode(answer.content).decode()
            attachments.append({"name": f"whatsapp-{index}{extension}", "data": data})
        return attachments, notes


class WhatsAppTickets:
    """Carries out `whatsapp_ticket` Actions; see the module. With no WHMCS API configured it
    records what it would have done, as a dry run."""

    channel = TICKET_CHANNEL
    rate_key = None
    per_second = None

    def __init__(
        self, db: Database, whmcs: WhmcsApi | None, media: MediaFetcher | None, department_id: int | None
    ) -> None:
        self.db = db
        self.whmcs = whmcs
        self.media = media
        self.department_id = department_id

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        content = action.content or {}
        number = action.recipient
        client_id = str(content.get("client_id") or "")
        if self.whmcs is None:
            return Executed(
                provider_ref="dry-run-ticket",
                dry_run=True,
                detail={"dry_run": True, "why": "WHMCS_API_URL not set", "would_open_or_reply_for": client_id},
            )
        media = content.get("media") or []
        attachments, notes = self.media.fetch(media) if self.media is not None else ([], [])
        if media and self.media is None:
            notes.append("the message's media were left out: Twilio's credentials are not set")
        message = _message(content, number, notes)
        extra = {"attachments": _encoded(attachments)} if attachments else {}
        now = utcnow()
        with self.db.session() as session:
            conversation = current_conversation(session, number, now)
            ongoing = (conversation.id, conversation.ticket_id, conversation.ticket_number) if conversation else None
        if ongoing is not None and self._still_open(ongoing[1]):
            conversation_id, ticket_id, ticket_number = ongoing
            self.whmcs.call("AddTicketReply", ticketid=ticket_id, message=message, clientid=client_id, **extra)
            with self.db.session() as session:
                touch_conversation(session, conversation_id, now)
                session.commit()
            note = f"added to ticket #{ticket_number}"
            return Executed(provider_ref=f"ticket {ticket_id} reply", detail={"note": note, "ticket_id": ticket_id})
        answer = self.whmcs.call(
            "OpenTicket",
            deptid=self.department_id or self._first_department(),
            subject=_subject(content),
            message=message,
            clientid=client_id,
            priority="Medium",
            **extra,
        )
        ticket_id, ticket_number = str(answer.get("id") or ""), str(answer.get("tid") or answer.get("id") or "")
        with self.db.session() as session:
            session.add(
                WhatsAppConversation(
                    number=number,
                    client_id=client_id,
                    ticket_id=ticket_id,
                    ticket_number=ticket_number,
                    ticket_code=str(answer.get("c") or ""),
                    opened_at=now,
                    last_message_at=now,
                )
            )
            session.commit()
        acknowledgement = content.get("acknowledgement")
        follow_up: tuple[tuple[str, PlannedAction], ...] = ()
        if isinstance(acknowledgement, dict):
            follow_up = (("whatsapp_inbound.acknowledgement", PlannedAction("whatsapp", number, acknowledgement)),)
        note = f"opened ticket #{ticket_number}"
        return Executed(
            provider_ref=f"ticket {ticket_id}", detail={"note": note, "ticket_id": ticket_id}, follow_up=follow_up
        )

    def _still_open(self, ticket_id: str) -> bool:
        assert self.whmcs is not None
        answer = self.whmcs.call("GetTicket", ticketid=ticket_id)
        return str(answer.get("status", "")).lower() != "closed"

    def _first_department(self) -> int:
        assert self.whmcs is not None
        departments = whmcs_rows(self.whmcs.call("GetSupportDepartments"), "departments", "department")
        if not departments:
            raise ProviderError("WHMCS has no support department to open the ticket in", permanent=True)
        return int(departments[0]["id"])


def _subject(content: dict[str, Any]) -> str:
    text = " ".join(str(content.get("text") or "").split())
    if not text:
        text = "(media)" if content.get("media") else "(empty message)"
    if len(text) > SUBJECT_CHARACTERS:
        text = text[: SUBJECT_CHARACTERS - 1].rstrip() + "…"
    return f"WhatsApp: {text}"


def _message(content: dict[str, Any], number: str, notes: list[str]) -> str:
    lines = [str(content.get("text") or "").strip() or "(no text)"]
    if content.get("button_payload"):
        lines.append(f"[tapped button: {content.get('button_text') or ''} ({content['button_payload']})]")
    lines.extend(f"[{note}]" for note in notes)
    who = content.get("profile_name")
    lines.append(f"— sent on WhatsApp from {number}" + (f" ({who})" if who else ""))
    return "\n\n".join(lines)


def _encoded(attachments: list[dict[str, str]]) -> str:
    """WHMCS's `attachments`: base64 of a JSON list of {name, data (base64)}."""
    return base64.b64encode(json.dumps(attachments).encode()).decode()
