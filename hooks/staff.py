"""Alerts to the company's own staff, for the events routing.toml's [staff] names."""

from __future__ import annotations

from typing import Any

from bridge.events import WHMCS_EVENTS
from bridge.phones import whatsapp_number
from hooks import HookContext, PlannedAction, add_hook
from hooks import variables as v


def alert(ctx: HookContext) -> list[PlannedAction]:
    staff = ctx.catalog.staff
    if ctx.event.type not in staff.events or not (staff.emails or staff.whatsapp):
        return []
    language = ctx.catalog.default_language
    locale = ctx.catalog.locale_for(language)
    variables: dict[str, Any] = {"event_name": ctx.event.type, "client_id": ctx.event.client_id or ""}
    if ctx.data.client:
        variables.update(v.common(ctx, ctx.data.client))
    for more in (v.invoice, v.service, v.quote, v.domain):
        variables.update(more(ctx, locale))
    subject, body = _texts(ctx, language, variables)
    planned = [
        PlannedAction("email", address, {"subject": subject, "body": body, "staff": True}) for address in staff.emails
    ]
    for raw in staff.whatsapp:
        number = whatsapp_number(raw, None, ctx.settings.default_phone_region)
        skip = None if number else f"staff WhatsApp number {raw!r} in routing.toml is not usable"
        planned.append(PlannedAction("whatsapp", number or raw, {"body": f"{subject}\n{body}", "staff": True}, skip))
    return planned


def _texts(ctx: HookContext, language: str, variables: dict[str, Any]) -> tuple[str, str]:
    event = ctx.event.type
    if ctx.catalog.has(language, event, "staff_subject") and ctx.catalog.has(language, event, "staff_body"):
        return (
            ctx.catalog.render(language, event, "staff_subject", variables),
            ctx.catalog.render(language, event, "staff_body", variables),
        )
    who = variables.get("fullname") or f"cliente {variables['client_id']}"
    return f"[{event}] {who}", f"Evento {event} del cliente {who} (id {variables['client_id'] or '-'})."


# Registered for every event, after the client's own notices.
for _event in WHMCS_EVENTS:
    add_hook(_event, priority=100, name="staff.alert", needs=("client",))(alert)
