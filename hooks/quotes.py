"""Quote events: a quote made available to the client, accepted, lost or dropped.

AcceptQuote and QuoteStatusChange to "Accepted" both fire for one acceptance: the intake
stores them under one key (bridge.core.event_keys), so the second is a repeat and the
client hears one "quote accepted". A lead's quote (no client account) reaches staff only.
"""

from __future__ import annotations

from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers import variables as v
from hooks.helpers.messaging import client_notice
from hooks.helpers.staff import staff_notice

# The stages staff hear about besides Accepted; the others (Draft, Delivered, On Hold) are
# the sales team's own work in WHMCS.
STAFF_STAGES = ("Lost", "Dead")
NEEDS = ("quote", "client", "contacts")


@add_hook("QuoteCreated", priority=10, name="quotes.created", needs=NEEDS)
def created(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "general", v.quote)


@add_hook("AcceptQuote", priority=10, name="quotes.accepted", needs=(*NEEDS, "invoice"))
def accepted(ctx: HookContext) -> list[PlannedAction]:
    return _acceptance(ctx)


@add_hook("QuoteStatusChange", priority=10, name="quotes.stage_changed", needs=NEEDS)
def stage_changed(ctx: HookContext) -> list[PlannedAction]:
    stage = str(ctx.params.get("status") or "")
    if stage.lower() == "accepted":
        return _acceptance(ctx)
    if stage not in STAFF_STAGES:
        return [PlannedAction("none", "-", {}, f"quote stage {stage or '(none)'}: nobody is told")]
    return staff_notice(ctx, "QuoteStatusChange", quote_stage=stage)


def _acceptance(ctx: HookContext) -> list[PlannedAction]:
    quote = ctx.data.quote
    staff = staff_notice(ctx, "AcceptQuote", quote_stage="Accepted")
    if quote is not None and not quote.client_id and ctx.data.client is None:
        return staff  # a lead: nobody with an account to tell
    return [*client_notice(ctx, "general", v.quote, v.invoice, notice="AcceptQuote"), *staff]
