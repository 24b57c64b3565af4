"""The words an event can be found by on the log page, kept in `events.search_text`.

Filled at intake from what the event carries, and completed by the planner with what it
looked up (the client's name, email and phone, the invoice number, ...), so a search for
anything a staff member knows reads one indexed column (a trigram index on PostgreSQL)
instead of every payload. Lowercase, space-separated, with a space at both ends so that a
whole word can be matched with `% word %`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bridge.core.event_data import EventData

# Payload keys whose values are worth finding an event by.
SEARCHABLE_KEYS = frozenset(
    {
        "firstname", "lastname", "companyname", "email", "phonenumber", "userid", "client_id", "clientid",
        "invoiceid", "invoicenum", "serviceid", "domain", "domainid", "quoteid", "subject", "entity_id",
        "external_reference", "productname", "city", "groupname",
    }
)  # fmt: skip
_SPLIT = re.compile(r"[\s,;]+")


def normalise(words: Iterable[Any]) -> str:
    tokens: list[str] = []
    for word in words:
        for token in _SPLIT.split(str(word).strip().lower()):
            if token and token not in tokens:
                tokens.append(token)
    return f" {' '.join(tokens)} " if tokens else ""


def payload_words(payload: Any) -> list[Any]:
    """The searchable values anywhere in a (redacted) payload."""
    found: list[Any] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(value, dict | list):
                found.extend(payload_words(value))
            elif str(key).lower() in SEARCHABLE_KEYS and value not in (None, ""):
                found.append(value)
    elif isinstance(payload, list):
        for value in payload:
            found.extend(payload_words(value))
    return found


def looked_up_words(data: EventData, phone: str | None) -> list[Any]:
    """What the planner learnt about the event that the payload may not say."""
    words: list[Any] = []
    if data.client:
        c = data.client
        words += [c.id, c.firstname, c.lastname, c.companyname, c.email, c.phonenumber]
    if phone:
        words.append(phone)
    if data.invoice:
        words += [data.invoice.id, data.invoice.number]
    if data.service:
        words += [data.service.name, data.service.domain]
    if data.quote:
        words += [data.quote.id, data.quote.subject]
    if data.domain_name:
        words.append(data.domain_name)
    if data.debit:
        words += [data.debit.pagos360_id, data.debit.invoice_id]
    if data.adhesion:
        words.append(data.adhesion.pagos360_id)
    return [w for w in words if w not in (None, "")]
