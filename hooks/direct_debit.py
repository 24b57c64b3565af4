"""Card direct debit with Pagos360: adhesions signed or cancelled, debits paid or not.

The hooks act on what Pagos360's API says (ctx.data.adhesion / ctx.data.debit, read
back by the planner), never on the notification's own words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.core.debits import NOT_PAID_STATES, REVERSED_STATES
from bridge.core.invoices import CLOSED_INVOICE_STATES, misplaced
from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers import variables as v
from hooks.helpers.messaging import client_notice
from hooks.helpers.staff import staff_notice

# In an invoice's notes: its card debit was rejected. The PHP hook file then lets WHMCS's own
# reminder emails for it go (it stops them for invoices the card will pay).
REJECTED_MARK = "[pagos360:rejected]"


@add_hook("card_adhesion", priority=10, name="direct_debit.adhesion", needs=("adhesion", "debit_group", "client"))
def adhesion_changed(ctx: HookContext) -> list[PlannedAction]:
    adhesion = ctx.data.adhesion
    assert adhesion is not None  # the planner read it back, or the planning failed
    if adhesion.state == "signed":
        return [
            *_move_client(ctx, ctx.data.debit_group_id, with_debit_day=True),
            *client_notice(ctx, None, v.direct_debit, notice="DebitAdhesionSigned"),
            *staff_notice(ctx, "DebitAdhesionSigned"),
        ]
    if adhesion.state == "canceled":
        restore = adhesion.previous_group_id
        in_debit_group = ctx.data.client is not None and ctx.data.client.groupid == ctx.data.debit_group_id
        moves = _move_client(ctx, restore, with_debit_day=False) if in_debit_group and restore is not None else []
        return [
            *moves,
            *client_notice(ctx, None, v.direct_debit, notice="DebitAdhesionCanceled"),
            *staff_notice(ctx, "DebitAdhesionCanceled"),
        ]
    return [PlannedAction("none", "-", {}, f"adhesion {adhesion.pagos360_id} is {adhesion.state}: nothing to do yet")]


@add_hook("card_debit_request", priority=10, name="direct_debit.debit", needs=("debit", "client", "invoice"))
def debit_changed(ctx: HookContext) -> list[PlannedAction]:
    debit = ctx.data.debit
    assert debit is not None
    if debit.state == "paid":
        return _record_payment(ctx)
    if debit.state in NOT_PAID_STATES:
        return [
            *client_notice(ctx, "invoice", v.invoice, v.direct_debit, notice="DebitRejected"),
            *staff_notice(ctx, "DebitRejected"),
            *_mark_rejected(ctx),
            *(_leave_debit_group(ctx) if debit.leaves_debit_group else []),
        ]
    if debit.state in REVERSED_STATES:
        # Money taken back after it was recorded: a person decides what to do in WHMCS.
        return staff_notice(ctx, "DebitReverted") or [
            PlannedAction("none", "-", {}, f"debit {debit.pagos360_id} {debit.state}: no [staff] address to flag it to")
        ]
    return [PlannedAction("none", "-", {}, f"debit {debit.pagos360_id} is {debit.state}: nothing to do yet")]


def _record_payment(ctx: HookContext) -> list[PlannedAction]:
    """The payment to add to the debit's invoice, or why it is not added (with a staff alert).

    Checked here against what the planner read, and again right before the payment by
    bridge.work.payments (the invoice may change in between)."""
    debit, invoice = ctx.data.debit, ctx.data.invoice
    assert debit is not None
    if debit.payment_state == "done":
        # Another notification of this debit got there first: not a closed invoice to alert on.
        added_by = f"added by action {debit.payment_action}" if debit.payment_action else "added earlier"
        return [
            PlannedAction(
                "none", "-", {}, f"debit {debit.pagos360_id} is already on invoice {debit.invoice_id} ({added_by})"
            )
        ]
    if not debit.invoice_id:
        return _refuse(ctx, f"debit {debit.pagos360_id} names no WHMCS invoice (metadata whmcs_invoice_id)")
    if invoice is None:
        problem = debit.invoice_problem or "it could not be read"
        return _refuse(ctx, f"invoice {debit.invoice_id} named by debit {debit.pagos360_id}: {problem}")
    # A claim whose outcome is unknown: the invoice may be Paid by that very payment. The
    # payment Action settles it with WHMCS (bridge.work.payments) rather than alarm anyone here.
    claimed = debit.payment_state == "claimed"
    if invoice.status in CLOSED_INVOICE_STATES and not claimed:
        reason = f"invoice {invoice.number} is {invoice.status}: payment of debit {debit.pagos360_id} not added"
        return [PlannedAction("none", "-", {}, reason), *staff_notice(ctx, "DebitPaidInvoiceClosed")]
    refusal = misplaced(
        debit_id=debit.pagos360_id,
        amount=debit.amount,
        client_id=debit.client_id,
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        invoice_client_id=invoice.client_id,
        balance=invoice.balance,
        requested_amount=debit.requested_amount,
        requested_invoice_id=debit.requested_invoice_id,
    )
    if refusal and not claimed:  # a claimed payment passed these checks when it was claimed
        return _refuse(ctx, refusal)
    paid_at = _local_time(debit.paid_at, ctx)
    content = {
        "invoiceid": invoice.id,
        "transid": debit.pagos360_id,
        "gateway": ctx.settings.pagos360_whmcs_gateway,
        "amount": str(debit.amount),
        "date": paid_at,
        # What the payment is checked against again, right before it is added.
        "clientid": debit.client_id,
        "requested_amount": str(debit.requested_amount) if debit.requested_amount is not None else None,
        "summary": f"add the payment of Pagos360 debit {debit.pagos360_id} to invoice {invoice.number}",
    }
    return [PlannedAction("whmcs_payment", f"invoice {invoice.id}", content)]


def _mark_rejected(ctx: HookContext) -> list[PlannedAction]:
    """REJECTED_MARK on the invoice's notes (UpdateInvoice), so that WHMCS's reminders of it
    reach the client again (the PHP hook file reads it) and staff see why it is unpaid."""
    invoice, debit = ctx.data.invoice, ctx.data.debit
    if invoice is None or debit is None or REJECTED_MARK in invoice.notes:
        return []
    line = f"{REJECTED_MARK} Pagos360 debit {debit.pagos360_id} {debit.state}: {debit.state_comment}".rstrip(": ")
    notes = f"{invoice.notes.rstrip()}\n{line}".strip()
    content = {
        "action": "UpdateInvoice",
        "params": {"invoiceid": invoice.id, "notes": notes},
        "summary": f"mark invoice {invoice.number}: its card debit was rejected",
    }
    return [PlannedAction("whmcs", f"invoice {invoice.id}", content)]


def _leave_debit_group(ctx: HookContext) -> list[PlannedAction]:
    """Debits rejected `[reminders] rejected_cycles` cycles in a row: the client goes back to
    the group they were in before (a dead card must not keep them from suspension for ever),
    and they and staff are told."""
    debit = ctx.data.debit
    assert debit is not None
    client = ctx.data.client
    back_to = debit.previous_group_id or 0
    moves: list[PlannedAction] = []
    if client is not None:
        summary = f"client {client.id} back to group {back_to} after {debit.rejected_cycles} rejected debit cycles"
        content = {"action": "UpdateClient", "params": {"clientid": client.id, "groupid": back_to}, "summary": summary}
        moves.append(PlannedAction("whmcs", f"client {client.id}", content))
    values: dict[str, Any] = {"rejected_cycles": debit.rejected_cycles, "previous_group": back_to or "-"}
    return [
        *moves,
        *client_notice(ctx, None, v.direct_debit, lambda _c, _l: values, notice="DebitGroupLeft"),
        *staff_notice(ctx, "DebitGroupLeft", **values),
    ]


def _refuse(ctx: HookContext, reason: str) -> list[PlannedAction]:
    """No payment: the decision on record, and the staff told why."""
    return [
        PlannedAction("none", "-", {}, f"payment not added: {reason}"),
        *staff_notice(ctx, "DebitPaymentRefused", refusal=reason),
    ]


def _move_client(ctx: HookContext, group_id: int | None, *, with_debit_day: bool) -> list[PlannedAction]:
    client, adhesion = ctx.data.client, ctx.data.adhesion
    if client is None or group_id is None or adhesion is None:
        return [PlannedAction("whmcs", "-", {}, f"no client to move: {ctx.data.missing or 'group unknown'}")]
    params: dict[str, object] = {"clientid": client.id, "groupid": group_id}
    summary = f"move client {client.id} to group {group_id}"
    field = ctx.settings.pagos360_debit_day_field_id
    if with_debit_day and field and adhesion.debit_day:
        params["customfields"] = {str(field): str(adhesion.debit_day)}
        summary += f" and set its debit day (custom field {field}) to {adhesion.debit_day}"
    return [
        PlannedAction("whmcs", f"client {client.id}", {"action": "UpdateClient", "params": params, "summary": summary})
    ]


def _local_time(iso: str, ctx: HookContext) -> str:
    """WHMCS takes the payment date in its own (the company's) time zone."""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        when = datetime.now(ctx.settings.tz)
    if when.tzinfo is not None:
        when = when.astimezone(ctx.settings.tz)
    return when.strftime("%Y-%m-%d %H:%M:%S")


@add_hook("DebitGroupNotExempt", priority=10, name="direct_debit.group_not_exempt")
def group_not_exempt(ctx: HookContext) -> list[PlannedAction]:
    """Once a day while WHMCS's debit group would let its cron suspend debit clients."""
    params = ctx.params
    values: dict[str, Any] = {"group_name": params.get("group_name", ""), "detail": params.get("detail", "")}
    return staff_notice(ctx, "DebitGroupNotExempt", **values) or [
        PlannedAction("none", "-", {}, "the debit group is not exempt from suspension, and no staff hear it")
    ]
