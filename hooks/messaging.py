"""Shared by the handlers: one event's notice to a client, its contacts and the staff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.event_data import Client
from bridge.phones import whatsapp_number
from hooks import HookContext, PlannedAction
from hooks.variables import common

Variables = Callable[[HookContext, str], dict[str, Any]]


def client_notice(ctx: HookContext, category: str | None, *extra: Variables) -> list[PlannedAction]:
    """The client's WhatsApp and email for this event, and its contacts' emails.

    `category` is the WHMCS email preference that governs it (general, invoice,
    product, domain); None for notices a client cannot turn off (security alerts).
    Every message not sent is recorded as skipped, with the reason.
    """
    channels = ctx.catalog.channels_for(ctx.event.type)
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
    planned: list[PlannedAction] = []
    if "whatsapp" in channels:
        planned.append(_whatsapp(ctx, client, language, variables))
    if "email" in channels:
        refused = category is not None and client.email_preferences.get(category) is False
        opted_out = f"the client turned off {category} emails in WHMCS" if refused else None
        planned.append(_email(ctx, client.email, language, variables, opted_out))
        if ctx.catalog.clients.contacts and category is not None:
            planned.extend(_contacts(ctx, client, category, language, variables))
    return planned


def render_email(ctx: HookContext, language: str, variables: dict[str, Any], prefix: str = "email") -> dict[str, Any]:
    event = ctx.event.type
    return {
        "subject": ctx.catalog.render(language, event, f"{prefix}_subject", variables),
        "body": ctx.catalog.render(language, event, f"{prefix}_body", variables),
        "language": language,
    }


def _email(ctx: HookContext, address: str, language: str, variables: dict[str, Any], skip: str | None) -> PlannedAction:
    content = render_email(ctx, language, variables)
    address = address.strip()
    if skip is None and "@" not in address:
        skip = "no email address"
    return PlannedAction("email", address or "-", content, skip)


def _contacts(
    ctx: HookContext, client: Client, category: str, language: str, variables: dict[str, Any]
) -> list[PlannedAction]:
    planned = []
    for contact in ctx.data.contacts:
        if category not in contact.receives or not contact.email or contact.email == client.email:
            continue
        own = {**variables, "firstname": contact.firstname, "lastname": contact.lastname}
        planned.append(_email(ctx, contact.email, language, own, None))
    return planned


def _whatsapp(ctx: HookContext, client: Client, language: str, variables: dict[str, Any]) -> PlannedAction:
    content: dict[str, Any] = {
        "body": ctx.catalog.render(language, ctx.event.type, "whatsapp", variables),
        "language": language,
    }
    template = ctx.catalog.whatsapp_template(ctx.event.type, language)
    if template:
        content["content_sid"] = template.content_sid
        content["content_variables"] = template.content_variables(variables)
    optout_field = ctx.catalog.clients.whatsapp_optout_field
    if optout_field and client.custom_fields.get(optout_field, "").lower() in ("on", "1", "yes", "true"):
        return PlannedAction("whatsapp", client.phonenumber or "-", content, "the client opted out of WhatsApp")
    number = whatsapp_number(client.phonenumber, client.phonecc, client.country or ctx.settings.default_phone_region)
    if number is None:
        reason = f"no usable WhatsApp number in {client.phonenumber!r}"
        return PlannedAction("whatsapp", client.phonenumber or "-", content, reason)
    return PlannedAction("whatsapp", number, content)
