"""Client events: welcome on ClientAdd."""

from __future__ import annotations

from hooks import HookContext, PlannedAction, add_hook
from hooks.messaging import base_variables, client_messages


@add_hook("ClientAdd", priority=10, name="clients.welcome")
def welcome(ctx: HookContext) -> list[PlannedAction]:
    """A new client gets a WhatsApp welcome and an email welcome."""
    return client_messages(ctx, base_variables(ctx))
