"""Shared by the handlers: turn one event into a WhatsApp and an email to a client."""

from __future__ import annotations

from typing import Any

from bridge.phones import whatsapp_number
from hooks import HookContext, PlannedAction


def base_variables(ctx: HookContext) -> dict[str, Any]:
    """The variables every message may use: the client's own fields plus the company's."""
    company = ctx.catalog.company
    system_url = ctx.settings.whmcs_system_url
    client_area = f"{system_url.rstrip('/')}/clientarea.php" if system_url else company.get("client_area_url", "")
    return {**ctx.params, "company_name": company.get("name", ""), "client_area_url": client_area}


def client_messages(ctx: HookContext, variables: dict[str, Any]) -> list[PlannedAction]:
    """The client's WhatsApp and email for this event, on the channels routing.toml names."""
    event_type = ctx.event.type
    params = ctx.params
    language = ctx.catalog.language_for(params.get("language"))
    planned: list[PlannedAction] = []
    channels = ctx.catalog.channels_for(event_type)
    if "whatsapp" in channels:
        planned.append(_whatsapp(ctx, language, variables))
    if "email" in channels:
        email = str(params.get("email") or "").strip()
        subject = ctx.catalog.render(language, event_type, "email_subject", variables)
        body = ctx.catalog.render(language, event_type, "email_body", variables)
        content = {"subject": subject, "body": body, "language": language}
        skip = None if "@" in email else "the client has no email address"
        planned.append(PlannedAction("email", email or "-", content, skip))
    return planned


def _whatsapp(ctx: HookContext, language: str, variables: dict[str, Any]) -> PlannedAction:
    params = ctx.params
    raw = params.get("phonenumberformatted") or params.get("phonenumber")
    number = whatsapp_number(raw, params.get("phonecc"), params.get("country") or ctx.settings.default_phone_region)
    content: dict[str, Any] = {
        "body": ctx.catalog.render(language, ctx.event.type, "whatsapp", variables),
        "language": language,
    }
    template = ctx.catalog.whatsapp_template(ctx.event.type, language)
    if template:
        content["content_sid"] = template.content_sid
        content["content_variables"] = template.content_variables(variables)
    if number is None:
        return PlannedAction("whatsapp", str(raw or "-"), content, f"no usable WhatsApp number in {raw!r}")
    return PlannedAction("whatsapp", number, content)
