"""Alerts to the company's own staff, for the events routing.toml's [staff] names."""

from __future__ import annotations

from bridge.core.events import WHMCS_EVENTS
from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers.staff import staff_notice


def alert(ctx: HookContext) -> list[PlannedAction]:
    return staff_notice(ctx, ctx.event.type)


# Registered for every event, after the client's own notices.
for _event in WHMCS_EVENTS:
    add_hook(_event, priority=100, name="staff.alert", needs=("client",))(alert)
