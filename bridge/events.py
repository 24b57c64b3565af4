"""The normalised inbound event every webhook turns its request into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
