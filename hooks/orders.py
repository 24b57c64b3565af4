"""Orders: a paid order activated as the company decides (routing's `[activation]`,
bridge.core.activation), and a cancelled one told to staff.

OrderPaid fires when the first invoice of a new order is paid, whoever marked it paid (a
gateway, or staff confirming a transfer). For `instant` the order is accepted through the
`whmcs_order` Action (bridge.work.orders: claimed once per order in the database, GetOrders
before AcceptOrder), which carries the staff alert stored if WHMCS refuses; for `manual`
staff hear "order #N paid, to activate". The client hears nothing here: AfterModuleCreate
tells them when the service is set up.
"""

from __future__ import annotations

from typing import Any

from bridge.core.actions import ORDER_CHANNEL
from bridge.core.activation import ActivationPolicy
from bridge.core.event_data import Order, OrderLine
from bridge.core.failure_alerts import FAILURE_ALERTS_KEY
from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers.staff import staff_notice

NEEDS = ("order", "client")


@add_hook("OrderPaid", priority=10, name="orders.activate", needs=NEEDS)
def activate(ctx: HookContext) -> list[PlannedAction]:
    order = ctx.data.order
    if order is None:
        return [PlannedAction("none", "-", {}, "the event names no order")]
    policy, why = decide(ctx, order)
    if policy == "whmcs":
        return [PlannedAction("none", f"order {order.id}", {}, f"left to WHMCS: {why}")]
    if policy == "instant":
        alerts = staff_notice(ctx, "OrderActivationFailed")
        content: dict[str, Any] = {
            "order_id": order.id,
            "summary": f"accept order {order.number} with auto-setup: {why}",
            FAILURE_ALERTS_KEY: [
                {"channel": a.channel, "recipient": a.recipient, "content": a.content} for a in alerts
            ],
        }
        return [PlannedAction(ORDER_CHANNEL, f"order {order.id}", content)]
    new_client = policy == "returning"
    alert = staff_notice(ctx, "OrderToActivate", new_client=new_client, activation_reason=why)
    return alert or [
        PlannedAction("none", f"order {order.id}", {}, f"to activate by hand ({why}), but no staff hear it")
    ]


def decide(ctx: HookContext, order: Order) -> tuple[str, str]:
    """The order's policy, after `returning` is settled, and why (for the log page)."""
    activation = ctx.catalog.activation
    per_line: list[tuple[str, OrderLine | None]] = [
        (activation.for_line(line.pid, line.group, order.payment_method), line)
        for line in order.lines
        if line.kind == "product"
    ] or [(activation.default, None)]
    policy = ActivationPolicy.strictest([p for p, _ in per_line])
    names = ", ".join(f"{line.product} ({p})" for p, line in per_line if line is not None) or "no product lines"
    why = f"policy {policy} for {names}, paid by {order.payment_method or 'an unknown gateway'}"
    if len({p for p, _ in per_line}) > 1:
        why += " (the strictest of its products' policies)"
    if policy == "returning":
        if order.returning:
            return "instant", f"{why}; the client already had an active service or a paid invoice"
        return "returning", f"{why}; a new client: left to staff"
    return policy, why


@add_hook("CancelOrder", priority=10, name="orders.cancelled", needs=NEEDS)
def cancelled(ctx: HookContext) -> list[PlannedAction]:
    return staff_notice(ctx, "CancelOrder")
