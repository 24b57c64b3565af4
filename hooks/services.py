"""Service (product) events from the provisioning modules: suspended, reactivated, terminated."""

from __future__ import annotations

from typing import Any

from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers import variables as v
from hooks.helpers.messaging import client_notice
from hooks.helpers.staff import staff_notice

NEEDS = ("service", "client", "contacts")


@add_hook("AfterModuleSuspend", priority=10, name="services.suspended", needs=(*NEEDS, "debit_standing"))
def suspended(ctx: HookContext) -> list[PlannedAction]:
    """The client hears it; and staff, when the client pays by card direct debit and should
    never have been suspended (by hand, or by a call the PHP hook file could not stop)."""
    planned = client_notice(ctx, "product", v.service)
    client, standing = ctx.data.client, ctx.data.debit_standing
    group = ctx.settings.pagos360_client_group_id
    in_debit_group = bool(standing and standing.signed) or bool(client and group and client.groupid == group)
    if in_debit_group:
        planned += staff_notice(ctx, "DebitClientSuspended", group_name=ctx.settings.pagos360_client_group_name)
    return planned


@add_hook("AfterModuleUnsuspend", priority=10, name="services.reactivated", needs=NEEDS)
def reactivated(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "product", v.service)


@add_hook("AfterModuleTerminate", priority=10, name="services.terminated", needs=NEEDS)
def terminated(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "product", v.service)


@add_hook("AfterModuleCreate", priority=10, name="services.created", needs=NEEDS)
def created(ctx: HookContext) -> list[PlannedAction]:
    """ "Habilitación del servicio": the service is set up, with the link to its page or manual."""
    return client_notice(ctx, "product", v.service, v.service_links)


@add_hook("AfterModuleCreateFailed", priority=10, name="services.create_failed", needs=("service", "client"))
def create_failed(ctx: HookContext) -> list[PlannedAction]:
    """Staff hear WHMCS's error; the client hears nothing until the set-up works."""
    message = str(ctx.event.payload.get("params", {}).get("failureResponseMessage") or "")
    return staff_notice(ctx, "AfterModuleCreateFailed", failure_message=message)


@add_hook("CancellationRequest", priority=10, name="services.cancellation", needs=(*NEEDS, "service_billing"))
def cancellation(ctx: HookContext) -> list[PlannedAction]:
    """The client's confirmation, worded for the kind of cancellation, and staff's alert. A
    cancellation is recorded for the debit cycle (the `cancellation` Action:
    bridge.work.cancellations), which stops requesting debits for that service's invoices."""
    service = ctx.data.service
    immediate = str(ctx.params.get("type") or "").strip().lower() == "immediate"
    values: dict[str, Any] = {
        "immediate": immediate,
        "cancellation_type": str(ctx.params.get("type") or ""),
        "cancellation_reason": str(ctx.params.get("reason") or ""),
    }
    on_debit = service is not None and _on_debit(ctx, service.payment_method)
    planned = [
        *client_notice(ctx, "product", v.service, v.service_links, lambda _c, _l: values),
        *staff_notice(ctx, "CancellationRequest", on_debit=on_debit, **values),
    ]
    if service is not None and ctx.data.client is not None:
        record = {
            "service_id": service.id,
            "client_id": ctx.data.client.id,
            "immediate": immediate,
            "ends_on": service.next_due_date.isoformat() if service.next_due_date else None,
        }
        planned.append(PlannedAction("cancellation", f"service {service.id}", record))
    return planned


def _on_debit(ctx: HookContext, payment_method: str) -> bool:
    """Paid by card direct debit: the service's gateway is Pagos360's, or the client is in
    the debit group."""
    client, group = ctx.data.client, ctx.settings.pagos360_client_group_id
    return payment_method == ctx.settings.pagos360_whmcs_gateway or (
        client is not None and bool(group) and client.groupid == group
    )
