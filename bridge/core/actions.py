"""What a handler asks for: a PlannedAction, and the names of the channels that carry
Actions out. The planner stores each PlannedAction as an Action row; the worker hands it
to the executor of its channel (bridge/work/executors.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The planning Action every event starts with: its executor is the planner.
PLAN_CHANNEL = "plan"
# A WhatsApp number's opt-out or opt-in, stored by bridge.work.whatsapp_gate.ConsentRecorder.
CONSENT_CHANNEL = "whatsapp_consent"
# A customer's WhatsApp message into their WHMCS ticket (bridge.work.whatsapp_tickets).
TICKET_CHANNEL = "whatsapp_ticket"
# A client's request to cancel a service, kept for the debit cycle (bridge.work.cancellations).
CANCELLATION_CHANNEL = "cancellation"
# The Actions that ask Pagos360 for a card debit (bridge.scheduled.debit_cycle).
DEBIT_REQUEST_CHANNEL = "pagos360_debit"
# A notice kept for the client's day's message (bridge.work.scheduled_notices).
SCHEDULED_NOTICE_CHANNEL = "scheduled_notice"
# A paid order accepted in WHMCS, once (bridge.work.orders).
ORDER_CHANNEL = "whmcs_order"


@dataclass(frozen=True)
class PlannedAction:
    """One thing to do. `skip_reason` set: recorded as skipped (e.g. no usable phone).

    `channel` names the provider that carries it out ("whatsapp", "email"); "none" is a
    decision recorded for the staff with nothing to carry out (always skipped)."""

    channel: str
    recipient: str
    content: dict[str, Any]
    skip_reason: str | None = None
