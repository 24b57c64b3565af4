"""A customer's WhatsApp message (bridge/inbound/twilio_inbound.py): an opt-out or opt-in
word changes the number's consent, with one confirmation; anything else (a text, a tapped
button, a photo) goes to the client's WHMCS ticket (bridge.work.whatsapp_tickets decides
whether that is a reply or a new ticket), and a number no single client is known by is
told to the staff instead: no ticket is guessed.

The planner has looked up the sender (`ctx.data.sender`: the number, the WHMCS clients the
bridge has seen with it, its consent) and, when exactly one client matched, the client.
"""

from __future__ import annotations

from typing import Any

from bridge.core.actions import CONSENT_CHANNEL, TICKET_CHANNEL
from bridge.core.events import WHATSAPP_MESSAGE
from bridge.core.keywords import OPT_OUT, consent_keyword
from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers.staff import staff_notice

UNMATCHED_NOTICE = "WhatsAppFromUnknown"  # the staff alert for a number no single client has
STAFF_TEXT_CHARACTERS = 500

# The language a keyword is written in, for the confirmation to a number no client is
# known for (a known client's own WHMCS language wins).
KEYWORD_LANGUAGES = {
    "BAJA": "es",
    "PARAR": "es",
    "ALTA": "es",
    "STOP": "en",
    "UNSUBSCRIBE": "en",
    "START": "en",
    "SUBSCRIBE": "en",
    "SAIR": "pt_BR",
    "VOLTAR": "pt_BR",
    "DISISCRIVI": "it",
    "ISCRIVI": "it",
}


def message_text(ctx: HookContext) -> str:
    """What the customer wrote, or the title of the button they tapped."""
    params = ctx.event.payload.get("params", {})
    return str(params.get("Body") or params.get("ButtonText") or "")


@add_hook(WHATSAPP_MESSAGE, priority=10, name="whatsapp_inbound.consent", needs=("sender", "client"))
def consent(ctx: HookContext) -> list[PlannedAction]:
    """STOP, BAJA, SAIR, … as the whole message: the number's choice is stored (and
    mirrored to the WHMCS opt-out field of the one matching client, when routing names
    one), and the customer gets one confirmation in their language."""
    sender = ctx.data.sender
    inbound = ctx.catalog.inbound
    found = consent_keyword(message_text(ctx), inbound.opt_out_keywords, inbound.opt_in_keywords)
    if sender is None or found is None:
        return []
    kind, keyword = found
    opted_out = kind == OPT_OUT
    planned = [PlannedAction(CONSENT_CHANNEL, sender.number, {"opted_out": opted_out, "keyword": keyword})]
    field = ctx.catalog.clients.whatsapp_optout_field
    client = ctx.data.client
    if field and client is not None:
        change = {
            "action": "UpdateClient",
            "params": {"clientid": client.id, "customfields": {field: "on" if opted_out else ""}},
        }
        planned.append(PlannedAction("whmcs", client.id, change))
    notice = "WhatsAppOptOut" if opted_out else "WhatsAppOptIn"
    language = reply_language(ctx, KEYWORD_LANGUAGES.get(keyword.upper()))
    planned.append(reply(ctx, notice, language, consent_notice=True))
    return planned


def reply_language(ctx: HookContext, guessed: str | None = None) -> str:
    client = ctx.data.client
    if client is not None and client.language:
        return ctx.catalog.language_for(client.language)
    return guessed if guessed in ctx.catalog.languages else ctx.catalog.default_language


def reply(ctx: HookContext, notice: str, language: str, **marks: Any) -> PlannedAction:
    """A free-form WhatsApp answer to the sender: it goes inside the window their own
    message opened (routing marks these notices `in_window`)."""
    sender = ctx.data.sender
    assert sender is not None
    client = ctx.data.client
    variables: dict[str, Any] = {
        "firstname": client.firstname if client else "",
        "company_name": ctx.catalog.company.get("name", ""),
    }
    if "whatsapp" not in ctx.catalog.channels_for(notice):
        return PlannedAction("whatsapp", sender.number, {}, f"routing.toml sends {notice} on no WhatsApp")
    body = ctx.catalog.render(language, notice, "whatsapp", variables)
    return PlannedAction("whatsapp", sender.number, {"body": body, "language": language, "in_window": True, **marks})


@add_hook(WHATSAPP_MESSAGE, priority=20, name="whatsapp_inbound.ticket", needs=("sender", "client"))
def ticket(ctx: HookContext) -> list[PlannedAction]:
    """Anything but a keyword: the client's ticket, or the staff when no single client is
    known by the number (none, or several sharing it)."""
    sender = ctx.data.sender
    inbound = ctx.catalog.inbound
    text = message_text(ctx)
    if sender is None or consent_keyword(text, inbound.opt_out_keywords, inbound.opt_in_keywords):
        return []
    params = ctx.event.payload.get("params", {})
    media = [
        {"url": str(params.get(f"MediaUrl{i}") or ""), "content_type": str(params.get(f"MediaContentType{i}") or "")}
        for i in range(_media_count(params))
    ]
    client = ctx.data.client
    if client is None:
        shown = text if len(text) <= STAFF_TEXT_CHARACTERS else text[: STAFF_TEXT_CHARACTERS - 1] + "…"
        alerts = staff_notice(
            ctx,
            UNMATCHED_NOTICE,
            whatsapp_number=sender.number,
            whatsapp_text=shown or ("(media)" if media else "(empty)"),
            why=ctx.data.missing,
        )
        if alerts:
            return alerts
        reason = f"{ctx.data.missing}; routing.toml's [staff] has no address to tell, so nobody heard of it"
        return [PlannedAction(TICKET_CHANNEL, sender.number, {}, reason)]
    content: dict[str, Any] = {
        "client_id": client.id,
        "text": text,
        "button_payload": str(params.get("ButtonPayload") or ""),
        "button_text": str(params.get("ButtonText") or ""),
        "profile_name": str(params.get("ProfileName") or ""),
        "media": media,
    }
    if inbound.acknowledge and "whatsapp" in ctx.catalog.channels_for("WhatsAppTicketOpened"):
        acknowledgement = reply(ctx, "WhatsAppTicketOpened", reply_language(ctx))
        content["acknowledgement"] = acknowledgement.content
    return [PlannedAction(TICKET_CHANNEL, sender.number, content)]


def _media_count(params: dict[str, Any]) -> int:
    value = str(params.get("NumMedia") or "0")
    return int(value) if value.isdigit() else 0  # the webhook refused anything else
