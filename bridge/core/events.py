"""The normalised inbound event every webhook turns its request into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The source of the events the bridge records itself (its scheduled jobs: the debit cycle,
# the dead-letter report).
BRIDGE_SOURCE = "bridge"

# A customer's WhatsApp message to the company (source "twilio", bridge.inbound.twilio_inbound).
WHATSAPP_MESSAGE = "WhatsAppMessage"

# The WHMCS hook points the bridge accepts (the PHP hook file sends these).
WHMCS_EVENTS = (
    "ClientAdd",
    "ClientChangePassword",
    "ClientEdit",
    "InvoiceCreated",
    "InvoiceCreation",
    "InvoiceCancelled",
    "InvoicePaid",
    "AfterModuleSuspend",
    "AfterModuleUnsuspend",
    "AfterModuleTerminate",
    "QuoteCreated",
    "DomainDelete",
    "TicketAdminReply",
    "TicketOpen",
    "TicketUserReply",
    "OrderPaid",
    "CancelOrder",
    "AfterModuleCreate",
    "AfterModuleCreateFailed",
    "AcceptQuote",
    "QuoteStatusChange",
    "CancellationRequest",
    "UserChangePassword",
    "InvoicePaymentReminder",
)


@dataclass(frozen=True)
class InboundEvent:
    """What a webhook view hands to the intake: already verified and redacted.

    `external_id` is the sender's stable id for the event (Standard Webhooks'
    `webhook-id` for WHMCS); together with `source` it makes a second post of the same
    event a no-op.
    """

    source: str
    type: str
    external_id: str
    payload: dict[str, Any]
    client_id: str | None = None


class InboundRefused(ValueError):
    """A body (or an id) the bridge will not store. `reason` is the metrics label;
    `field` names where in the body the problem is, when it is in one place."""

    def __init__(self, message: str, *, reason: str = "bad_json", field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.field = field
