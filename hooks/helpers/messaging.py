"""Shared by the handlers: one event's notice to a client and its contacts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.core.event_data import Client
from bridge.core.fallback import FALLBACK_KEY
from bridge.core.phones import whatsapp_number
from bridge.core.sms_text import gsm7, segments
from hooks import HookContext, PlannedAction
from hooks.helpers.variables import common
from providers.email_address import NotOneAddress, single_address

Variables = Callable[[HookContext, str], dict[str, Any]]


def client_notice(
    ctx: HookContext, category: str | None, *extra: Variables, notice: str | None = None
) -> list[PlannedAction]:
    """The client's WhatsApp and email for this event, and its contacts' emails.

    `category` is the WHMCS email preference that governs it (general, invoice,
    product, domain); None for notices a client cannot turn off (security alerts).
    `notice` names the messages and routing entry when it is not the event's type (one
    Pagos360 event can mean several notices). Every message not sent is recorded as
    skipped, with the reason.
    """
    notice = notice or ctx.event.type
    channels = ctx.catalog.channels_for(notice)
    client = ctx.data.client
    if not channels:
        return []
    if client is None:
        return [PlannedAction(channel, "-", {}, f"no client to notify: {ctx.data.missing}") for channel in channels]
    language = ctx.catalog.language_for(client.language)
    locale = ctx.catalog.locale_for(language)
    variables = common(ctx, client)
    for more in extra:
        variables.update(more(ctx, locale))
    if client.groupid in ctx.catalog.clients.exclude_groups:
        reason = f"client group {client.groupid} is left out in routing.toml"
        return [PlannedAction(channel, "-", {}, reason) for channel in channels]
    message = _Message(ctx, notice, language, variables)
    planned: list[PlannedAction] = []
    if "whatsapp" in channels:
        planned.append(message.whatsapp(client, category))
    if "email" in channels:
        refused = category is not None and client.email_preferences.get(category) is False
        planned.append(
            message.email(client.email, f"the client turned off {category} emails in WHMCS" if refused else None)
        )
        if ctx.catalog.clients.contacts and category is not None:
            for contact in ctx.data.contacts:
                if category in contact.receives and contact.email and contact.email != client.email:
                    own = {"firstname": contact.firstname, "lastname": contact.lastname}
                    planned.append(message.email(contact.email, None, own))
    return planned


class _Message:
    """One notice rendered for one reader's language."""

    def __init__(self, ctx: HookContext, notice: str, language: str, variables: dict[str, Any]) -> None:
        self.ctx = ctx
        self.notice = notice
        self.language = language
        self.variables = variables

    def email(self, address: str, skip: str | None, overrides: dict[str, Any] | None = None) -> PlannedAction:
        values = {**self.variables, **(overrides or {})}
        catalog = self.ctx.catalog
        content = {
            "subject": catalog.render(self.language, self.notice, "email_subject", values),
            "body": catalog.render(self.language, self.notice, "email_body", values),
            "language": self.language,
        }
        return planned_email(address, content, skip)

    def fallback(self, client: Client, number: str, category: str | None) -> list[dict[str, Any]]:
        """What takes this WhatsApp notice over if WhatsApp cannot carry it (bridge.core.fallback):
        each channel of the event's fallback that can reach this client, rendered now."""
        catalog = self.ctx.catalog
        chain: list[dict[str, Any]] = []
        for channel in catalog.fallback_for(self.notice):
            if channel == "sms" and catalog.has(self.language, self.notice, "sms"):
                body = gsm7(catalog.render(self.language, self.notice, "sms", self.variables))
                content = {"body": body, "language": self.language, "segments": segments(body)}
                chain.append({"channel": "sms", "recipient": number, "content": content})
            elif channel == "email" and catalog.has(self.language, self.notice, "email_body"):
                if category is not None and client.email_preferences.get(category) is False:
                    continue  # the client turned these emails off: a fallback does not override it
                email = self.email(client.email, None)
                if email.skip_reason is None:
                    chain.append({"channel": "email", "recipient": email.recipient, "content": email.content})
        return chain

    def whatsapp(self, client: Client, category: str | None = None) -> PlannedAction:
        ctx = self.ctx
        content: dict[str, Any] = {
            "body": ctx.catalog.render(self.language, self.notice, "whatsapp", self.variables),
            "language": self.language,
        }
        template = ctx.whatsapp_template(self.notice, self.language)
        if template:
            content["content_sid"] = template.content_sid
            content["content_variables"] = template.content_variables(self.variables)
        optout_field = ctx.catalog.clients.whatsapp_optout_field
        if optout_field and client.custom_fields.get(optout_field, "").lower() in ("on", "1", "yes", "true"):
            return PlannedAction("whatsapp", client.phonenumber or "-", content, "the client opted out of WhatsApp")
        region = client.country or ctx.settings.default_phone_region
        number = whatsapp_number(client.phonenumber, client.phonecc, region)
        if number is None:
            reason = f"no usable WhatsApp number in {client.phonenumber!r}"
            return PlannedAction("whatsapp", client.phonenumber or "-", content, reason)
        chain = self.fallback(client, number, category)
        if chain:
            content[FALLBACK_KEY] = chain
        return PlannedAction("whatsapp", number, content)


def planned_email(address: str, content: dict[str, Any], skip: str | None = None) -> PlannedAction:
    """An email Action to exactly one address (providers.email_address); any other value of the
    address field is recorded as one skipped Action with the reason, never sent."""
    address = address.strip()
    if skip is None:
        try:
            address = single_address(address)
        except NotOneAddress as exc:
            skip = str(exc)
    return PlannedAction("email", address or "-", content, skip)
