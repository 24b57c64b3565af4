"""Support tickets: a staff answer to a ticket a customer opened on WhatsApp goes back to
them on WhatsApp (WHMCS emails ticket replies itself; tickets opened elsewhere are left to
that email here).

Inside the customer's 24-hour window the staff member's own words go; outside it, the
approved template that tells them the ticket was answered, with the link
(bridge.work.whatsapp_gate chooses when the message is sent).
"""

from __future__ import annotations

import re
from typing import Any

from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers.variables import common, system_url

REPLY_CHARACTERS = 1000


@add_hook("TicketAdminReply", priority=10, name="tickets.whatsapp_answer", needs=("ticket", "client"))
def whatsapp_answer(ctx: HookContext) -> list[PlannedAction]:
    if "whatsapp" not in ctx.catalog.channels_for("TicketAdminReply"):
        return []
    ticket = ctx.data.ticket
    if ticket is None:
        return [PlannedAction("whatsapp", "-", {}, "the event names no ticket")]
    if not ticket.whatsapp_number:
        return [PlannedAction("whatsapp", "-", {}, "the ticket was not opened on WhatsApp: WHMCS emails the answer")]
    client = ctx.data.client
    language = ctx.catalog.language_for(client.language if client else None)
    variables: dict[str, Any] = common(ctx, client) if client else {"company_name": ctx.catalog.company.get("name", "")}
    variables.update(
        ticket_number=ticket.number or ticket.id,
        ticket_subject=ticket.subject,
        ticket_url=f"{system_url(ctx)}/viewticket.php?tid={ticket.number}&c={ticket.code}",
        reply_text=_reply_text(str(ctx.params.get("message") or "")),
        admin_name=str(ctx.params.get("admin") or ""),
    )
    content: dict[str, Any] = {
        "body": ctx.catalog.render(language, "TicketAdminReply", "whatsapp", variables),
        "language": language,
        "free_form_in_window": True,
        "conversation_id": ticket.conversation_id,
    }
    template = ctx.whatsapp_template("TicketAdminReply", language)
    if template:
        content["content_sid"] = template.content_sid
        content["content_variables"] = template.content_variables(variables)
    return [PlannedAction("whatsapp", ticket.whatsapp_number, content)]


def _reply_text(message: str) -> str:
    """The staff's answer as a WhatsApp text: WHMCS's line breaks, at most one blank line in
    a row, cut at about REPLY_CHARACTERS."""
    text = re.sub(r"\n{3,}", "\n\n", message.replace("\r\n", "\n")).strip()
    if len(text) > REPLY_CHARACTERS:
        text = text[: REPLY_CHARACTERS - 1].rstrip() + "…"
    return text
