"""Alerts to the company's own staff, for the events routing.toml's [staff] names."""

from __future__ import annotations

from bridge.core.events import WHMCS_EVENTS
from bridge.core.whmcs_params import USER_ID_EVENTS
from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers.staff import staff_notice


def alert(ctx: HookContext) -> list[PlannedAction]:
    return staff_notice(ctx, ctx.event.type)


# Events whose own handlers alert staff, with what those alerts need (the order, the ticket's
# department): the generic alert would tell staff twice.
OWN_STAFF_ALERTS = frozenset(
    {
        "TicketOpen",
        "TicketUserReply",
        "OrderPaid",
        "CancelOrder",
        "AfterModuleCreateFailed",
        "AcceptQuote",
        "QuoteStatusChange",
        "CancellationRequest",
    }
)

# Registered for every other event, after the client's own notices; not for the hooks whose
# `userid` is a WHMCS user (it would be looked up as a client).
for _event in WHMCS_EVENTS:
    if _event not in OWN_STAFF_ALERTS | USER_ID_EVENTS:
        add_hook(_event, priority=100, name="staff.alert", needs=("client",))(alert)
