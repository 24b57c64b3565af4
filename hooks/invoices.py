"""Invoice events: created, cancelled, paid."""

from __future__ import annotations

from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers import variables as v
from hooks.helpers.messaging import client_notice

NEEDS = ("invoice", "client", "contacts")


@add_hook("InvoiceCreated", priority=10, name="invoices.created", needs=NEEDS)
def created(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "invoice", v.invoice)


@add_hook("InvoiceCreation", priority=10, name="invoices.creation", needs=NEEDS)
def creation(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "invoice", v.invoice)


@add_hook("InvoiceCancelled", priority=10, name="invoices.cancelled", needs=NEEDS)
def cancelled(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "invoice", v.invoice)


@add_hook("InvoicePaid", priority=10, name="invoices.paid", needs=NEEDS)
def paid(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "invoice", v.invoice)
