"""Domain events: a domain deleted from the account."""

from __future__ import annotations

from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers import variables as v
from hooks.helpers.messaging import client_notice


@add_hook("DomainDelete", priority=10, name="domains.deleted", needs=("domain", "client", "contacts"))
def deleted(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "domain", v.domain)
