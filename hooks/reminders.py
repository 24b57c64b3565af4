"""Payment reminders and the day's scheduled notices (bridge.core.reminders).

InvoicePaymentReminder (WHMCS fires it for each reminder or overdue notice it emails) is not
sent at once: it is kept as a scheduled notice (the `scheduled_notice` Action:
bridge.work.scheduled_notices), one per invoice and kind, and reaches the client with the
day's other notices in one ScheduledNotices message (bridge.scheduled.notice_digest). An
invoice the client's card will be debited for (paid by the Pagos360 gateway, or the client's
adhesion is signed: the debit cycle asks for every unpaid invoice) gets no reminder, unless
its debit was rejected: then the reminder says the card was not charged.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bridge.core.actions import SCHEDULED_NOTICE_CHANNEL
from bridge.core.event_fields import day, money
from bridge.core.reminders import GENERIC_REMINDER, REMINDER_KINDS, reminder_kind
from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers import variables as v
from hooks.helpers.messaging import client_notice


@add_hook(
    "InvoicePaymentReminder",
    priority=10,
    name="reminders.invoice",
    needs=("invoice", "client", "debit_standing"),
)
def invoice_reminder(ctx: HookContext) -> list[PlannedAction]:
    invoice, client = ctx.data.invoice, ctx.data.client
    if not ctx.catalog.reminders.invoice_reminders:
        return [PlannedAction("none", "-", {}, "routing's [reminders] invoice_reminders is off")]
    if invoice is None or client is None:
        return [PlannedAction("none", "-", {}, f"no reminder: {ctx.data.missing or 'the event names no invoice'}")]
    kind = reminder_kind(str(ctx.params.get("type") or ""))
    standing = ctx.data.debit_standing
    rejected = bool(standing and standing.invoice_rejected)
    debited = invoice.payment_method == ctx.settings.pagos360_whmcs_gateway or bool(standing and standing.signed)
    if debited and not rejected:
        reason = f"invoice {invoice.number} will be debited from the client's card (Pagos360): no reminder"
        return [PlannedAction("none", f"invoice {invoice.id}", {}, reason)]
    values = {
        "invoice_id": invoice.id,
        "invoice_number": invoice.number,
        "total": str(invoice.balance if invoice.balance is not None else invoice.total or ""),
        "currency": invoice.currency_code,
        "due_date": invoice.due_date.isoformat() if invoice.due_date else "",
        "debit_rejected": rejected,
    }
    content = {"key": f"reminder:{invoice.id}:{kind}", "client_id": client.id, "kind": kind, "values": values}
    return [PlannedAction(SCHEDULED_NOTICE_CHANNEL, f"client {client.id}", content)]


@add_hook("InvoicePaid", priority=20, name="reminders.paid", needs=("invoice",))
def invoice_paid(ctx: HookContext) -> list[PlannedAction]:
    """A paid invoice's reminders still waiting for the day's message are dropped: a client who
    paid at eight is not told at nine that the invoice is overdue."""
    invoice = ctx.data.invoice
    if invoice is None or not ctx.catalog.reminders.invoice_reminders:
        return []
    content = {"drop": f"reminder:{invoice.id}:", "summary": f"drop the waiting reminders of invoice {invoice.number}"}
    return [PlannedAction(SCHEDULED_NOTICE_CHANNEL, f"invoice {invoice.id}", content)]


@add_hook("ScheduledNotices", priority=10, name="reminders.day", needs=("client", "contacts"))
def day_notices(ctx: HookContext) -> list[PlannedAction]:
    """The client's notices of the day, one line each, in one message."""
    notices = [n for n in ctx.params.get("notices") or [] if isinstance(n, dict)]
    client = ctx.data.client
    language = ctx.catalog.language_for(client.language if client else None)

    def values(ctx: HookContext, locale: str) -> dict[str, Any]:
        lines = [
            ctx.catalog.render(language, "ScheduledNotices", f"line_{n['kind']}", _line(ctx, n, locale))
            for n in notices
        ]
        return {
            "notices": "\n".join(f"- {line}" for line in lines),
            "summary": _summary(lines),
            "count": len(lines),
        }

    category = "invoice" if any(n.get("kind") in INVOICE_KINDS for n in notices) else "product"
    return client_notice(ctx, category, values, notice="ScheduledNotices")


# The one-line summary fills a WhatsApp template's variable: WhatsApp takes no line break in
# one, and a whole message of at most 1024 characters.
SUMMARY_CHARACTERS = 600


def _summary(lines: list[str]) -> str:
    """The notices on one line, as many as fit, then how many more (the full list is in the
    client area, which the template links to)."""
    kept: list[str] = []
    for number, line in enumerate(lines):
        candidate = "; ".join([*kept, " ".join(line.split())])
        if len(candidate) > SUMMARY_CHARACTERS and kept:
            return f"{'; '.join(kept)}; (+{len(lines) - number})"
        kept.append(" ".join(line.split()))
    return "; ".join(kept)


INVOICE_KINDS = frozenset({*REMINDER_KINDS, GENERIC_REMINDER})


def _line(ctx: HookContext, notice: dict[str, Any], locale: str) -> dict[str, Any]:
    """One notice's values, formatted for the reader (the stored ones are plain)."""
    raw = notice.get("values") or {}
    currency = str(raw.get("currency") or (ctx.data.client.currency_code if ctx.data.client else ""))
    amount = v.money(money(raw.get("total") or raw.get("amount"), "notice.total"), currency, locale)
    when = day(raw.get("due_date") or raw.get("date"))
    today = day(ctx.params.get("day")) or date.today()
    return {
        **raw,
        "invoice_total": amount,
        "item_amount": amount,
        "due_date": v.long_date(when, locale),
        "item_date": v.long_date(when, locale),
        "days_overdue": max((today - when).days, 0) if when else 0,
        "invoice_url": f"{v.system_url(ctx)}/viewinvoice.php?id={raw.get('invoice_id', '')}",
        "domain_name": raw.get("name", ""),
        "service_name": raw.get("name", ""),
        "debit_rejected": bool(raw.get("debit_rejected")),
    }
