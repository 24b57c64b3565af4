"""Support tickets.

- A staff answer (TicketAdminReply) to a ticket a customer opened on WhatsApp goes back to
  them on WhatsApp: inside their 24-hour window the staff member's own words, outside it the
  approved template that says the ticket was answered, with the link
  (bridge.work.whatsapp_gate chooses when the message is sent).
- A staff answer to a ticket opened elsewhere reaches the client on WhatsApp only, with a
  link to the ticket (WHMCS emails every ticket answer itself), unless the client turned
  support emails off in WHMCS; a ticket a contact opened reaches that contact instead, if they
  take support emails; a guest's ticket has no client to tell.
- A customer's new ticket or reply (TicketOpen, TicketUserReply) alerts the staff group of
  its department, and the admin it is flagged to.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from bridge.core.catalog import StaffGroup
from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers.messaging import client_notice
from hooks.helpers.staff import staff_notice
from hooks.helpers.variables import common, system_url

REPLY_CHARACTERS = 1000


@add_hook("TicketAdminReply", priority=10, name="tickets.whatsapp_answer", needs=("ticket", "client", "ticket_contact"))
def whatsapp_answer(ctx: HookContext) -> list[PlannedAction]:
    if "whatsapp" not in ctx.catalog.channels_for("TicketAdminReply"):
        return []
    ticket = ctx.data.ticket
    if ticket is None:
        return [PlannedAction("whatsapp", "-", {}, "the event names no ticket")]
    if not ticket.whatsapp_number:
        return _answer_elsewhere(ctx)
    client = ctx.data.client
    language = ctx.catalog.language_for(client.language if client else None)
    variables: dict[str, Any] = common(ctx, client) if client else {"company_name": ctx.catalog.company.get("name", "")}
    variables.update(_answer_variables(ctx, ""))
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


def _answer_elsewhere(ctx: HookContext) -> list[PlannedAction]:
    """The answer to a ticket opened by email or in the client area: a WhatsApp that says so,
    with the link (the text itself is in WHMCS's email)."""
    client, ticket = ctx.data.client, ctx.data.ticket
    if client is None or ticket is None:
        return client_notice(ctx, "support")  # a guest's ticket: recorded as skipped, with why
    if ticket.contact_id:  # opened by one of the client's contacts: the answer is theirs
        contact = next((c for c in ctx.data.contacts if c.id == ticket.contact_id), None)
        if contact is None or "support" not in contact.receives:
            why = "is not among the client's contacts" if contact is None else "does not take support emails in WHMCS"
            reason = f"the ticket's contact {ticket.contact_id} {why}"
            return [PlannedAction(c, "-", {}, reason) for c in ctx.catalog.channels_for("TicketAdminReply")]
        as_reader = replace(
            client,
            firstname=contact.firstname,
            lastname=contact.lastname,
            email=contact.email,
            phonenumber=contact.phonenumber,
            phonecc="",
            email_preferences={"support": True},
            custom_fields={},
        )
        ctx = replace(ctx, data=replace(ctx.data, client=as_reader, contacts=()))
    elif client.email_preferences.get("support") is False:
        reason = "the client turned off support emails in WHMCS"
        return [PlannedAction(c, "-", {}, reason) for c in ctx.catalog.channels_for("TicketAdminReply")]
    return client_notice(ctx, "support", _answer_variables)


def _answer_variables(ctx: HookContext, locale: str) -> dict[str, Any]:
    ticket = ctx.data.ticket
    assert ticket is not None
    return {
        "ticket_number": ticket.number or ticket.id,
        "ticket_subject": ticket.subject,
        "ticket_url": f"{system_url(ctx)}/viewticket.php?tid={ticket.number}&c={ticket.code}",
        "reply_text": _reply_text(str(ctx.params.get("message") or "")),
        "admin_name": str(ctx.params.get("admin") or ""),
    }


def _reply_text(message: str) -> str:
    """The staff's answer as a WhatsApp text: WHMCS's line breaks, at most one blank line in
    a row, cut at about REPLY_CHARACTERS."""
    text = re.sub(r"\n{3,}", "\n\n", message.replace("\r\n", "\n")).strip()
    if len(text) > REPLY_CHARACTERS:
        text = text[: REPLY_CHARACTERS - 1].rstrip() + "…"
    return text


@add_hook("TicketOpen", priority=10, name="tickets.staff_opened", needs=("ticket", "client", "flagged_admin"))
def staff_opened(ctx: HookContext) -> list[PlannedAction]:
    return _to_department(ctx, "TicketOpen")


@add_hook("TicketUserReply", priority=10, name="tickets.staff_reply", needs=("ticket", "client", "flagged_admin"))
def staff_reply(ctx: HookContext) -> list[PlannedAction]:
    return _to_department(ctx, "TicketUserReply")


def _to_department(ctx: HookContext, notice: str) -> list[PlannedAction]:
    """A customer's ticket or reply, to the staff group of its WHMCS department (else
    `default`), and to the admin it is flagged to: by email (GetAdminUsers) and on the
    WhatsApp number routing's `[staff.admins]` gives that admin id."""
    ticket = ctx.data.ticket
    if ticket is None:
        return [PlannedAction("none", "-", {}, "the event names no ticket")]
    also: tuple[StaffGroup, ...] = ()
    admin = ctx.data.flagged_admin
    if admin is not None:
        number = ctx.catalog.staff.admin_whatsapp.get(admin.id)
        also = (
            StaffGroup(
                f"admin {admin.id}",
                emails=(admin.email,) if admin.email else (),
                whatsapp=(number,) if number else (),
                language=admin.language,
            ),
        )
    return staff_notice(ctx, notice, department=ticket.department_id, also=also)
