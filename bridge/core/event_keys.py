"""An event's own key, for the WHMCS hooks that WHMCS may fire twice for one happening.

The PHP hook file gives each post a new webhook id, so a hook fired twice (WHMCS runs the
hook point again, two admins click at once, a module re-runs) arrives as two events. For the
hooks below the event carries an id of its own that says "the same happening": the intake
stores the event under that key instead of the webhook id, so the second copy is answered
as a repeat and plans nothing (bridge.store.outbox's unique (source, external_id)).

AcceptQuote and QuoteStatusChange to "Accepted" share one key: both fire for one acceptance,
and the client hears one notice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bridge.core.whmcs_params import hook_fields

Fields = Mapping[str, Any]


def _plain(value: Any) -> str:
    """An id as the key uses it: a number, or a short word; anything else is no key (the
    planning reports a field of the wrong shape, the intake does not refuse for it)."""
    if isinstance(value, bool) or value is None:
        return ""
    text = str(value).strip()
    return text if isinstance(value, (int, str)) and 0 < len(text) <= 40 and text.isprintable() else ""


def _key(prefix: str, *names: str) -> Callable[[Fields], str]:
    def key(fields: Fields) -> str:
        values = [_plain(fields.get(name)) for name in names]
        return f"{prefix}:{':'.join(values)}" if all(values) else ""

    return key


def _quote_stage(fields: Fields) -> str:
    quote, stage = _plain(fields.get("quoteid")), _plain(fields.get("status"))
    if not (quote and stage):
        return ""
    return f"quote-accepted:{quote}" if stage.lower() == "accepted" else f"QuoteStatusChange:{quote}:{stage}"


OWN_KEYS: dict[str, Callable[[Fields], str]] = {
    "OrderPaid": _key("OrderPaid", "orderId"),
    "CancelOrder": _key("CancelOrder", "orderid"),
    "TicketOpen": _key("TicketOpen", "ticketid"),
    "TicketUserReply": _key("TicketUserReply", "replyid"),
    "TicketAdminReply": _key("TicketAdminReply", "replyid"),
    "AcceptQuote": _key("quote-accepted", "quoteid"),
    "QuoteStatusChange": _quote_stage,
    "CancellationRequest": _key("CancellationRequest", "relid", "type"),
    "InvoicePaymentReminder": _key("InvoicePaymentReminder", "invoiceid", "type"),
}


def own_key(event_type: str, params: Mapping[str, Any]) -> str:
    """The key that makes a second firing of the same happening a repeat; "" for hooks
    without one (or when the hook lacks its id: then its webhook id is the key)."""
    key = OWN_KEYS.get(event_type)
    if key is None:
        return ""
    try:
        return key(hook_fields(params).fields)
    except ValueError:  # `params` of another shape: the planning names the field
        return ""
