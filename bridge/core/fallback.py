"""The fallback chain: when WhatsApp cannot carry a notice for good, the next channel of the
event's `fallback` list in routing (default SMS, then email) takes it over.

The hooks render every channel of the chain when they plan the notice, and put it in the
WhatsApp Action's content (`fallback`: [{channel, recipient, content}, ...]), so taking over
needs nothing but the Action: the deliverer does it when the Action fails for good (a
permanent refusal, the 24-hour window closed with no template, its retries spent), the
receipt webhook when Twilio reports it undelivered or failed. Each link of the chain carries
the rest of it, so an SMS that fails hands over to the email in turn.

A transient failure is retried first; only an Action that ended `failed` or `undelivered`
hands over, once (the move to that state is the one write that decides it), so a notice
never reaches the customer by two channels because of a fallback. Channels that cannot help
are skipped: an invalid number (21211) or a number that answered STOP to SMS (21610) skips
SMS to it.
"""

from __future__ import annotations

from typing import Any

from bridge.core.actions import PlannedAction

FALLBACK_KEY = "fallback"
DEFAULT_FALLBACK = ("sms", "email")
# Twilio error codes after which an SMS to the same number cannot help either.
NO_SMS_CODES = frozenset({"21211", "21610", "21614"})
HOOK = "fallback"


def next_in_chain(content: dict[str, Any] | None, error_code: str | None) -> list[tuple[str, PlannedAction]]:
    """The Action that takes the notice over, with the rest of the chain in its content; []
    when the chain is empty or no channel left can help."""
    chain = list((content or {}).get(FALLBACK_KEY) or [])
    code = (error_code or "").strip()
    while chain:
        link, rest = chain[0], chain[1:]
        chain = rest
        if not isinstance(link, dict):
            continue
        channel = str(link.get("channel") or "")
        if channel == "sms" and code in NO_SMS_CODES:
            continue
        taken = dict(link.get("content") or {})
        if rest:
            taken[FALLBACK_KEY] = rest
        planned = PlannedAction(channel, str(link.get("recipient") or "-"), taken, link.get("skip_reason"))
        return [(HOOK, planned)]
    return []


def with_handover(reason: str, takes_over: list[tuple[str, PlannedAction]]) -> str:
    """The ending Action's reason, saying which channel took its notice over (the chain the
    event page shows)."""
    return f"{reason}; {takes_over[0][1].channel} takes the notice over" if takes_over else reason
