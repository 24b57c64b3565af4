"""Quote events: a quote made available to the client."""

from __future__ import annotations

from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers import variables as v
from hooks.helpers.messaging import client_notice


@add_hook("QuoteCreated", priority=10, name="quotes.created", needs=("quote", "client", "contacts"))
def created(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "general", v.quote)
