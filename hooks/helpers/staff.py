"""The staff's alert for a notice: email and WhatsApp to the staff groups routing.toml's
[staff] sends it to (a helper: it registers no handler)."""

from __future__ import annotations

from typing import Any

from bridge.core.catalog import StaffGroup
from bridge.core.phones import whatsapp_number
from hooks import HookContext, PlannedAction
from hooks.helpers import variables as v
from hooks.helpers.messaging import planned_email

# The one WhatsApp template every staff alert goes as outside the staff member's window.
STAFF_TEMPLATE = "StaffAlert"


def staff_notice(
    ctx: HookContext,
    notice: str,
    *,
    department: str | None = None,
    also: tuple[StaffGroup, ...] = (),
    **extra: Any,
) -> list[PlannedAction]:
    """The staff's email and WhatsApp alerts for `notice`, if routing.toml's [staff] hears it:
    to each group that hears it (bridge.core.catalog.StaffPolicy; for a ticket, its WHMCS
    `department`'s), in that group's language, plus `also` (e.g. the admin a ticket is
    flagged to). An address in several of those groups gets one alert."""
    staff = ctx.catalog.staff
    if not staff.hears(notice) and department is None:
        return []
    variables: dict[str, Any] = {"event_name": notice, "client_id": ctx.event.client_id or ""}
    planned: list[PlannedAction] = []
    seen: set[str] = set()
    for group in (*staff.groups_for(notice, department), *also):
        language = ctx.catalog.language_for(group.language) if group.language else ctx.catalog.default_language
        values = {**variables, **_event_values(ctx, ctx.catalog.locale_for(language)), **extra}
        subject, body = _texts(ctx, notice, language, values)
        for address in group.emails:
            if address.strip().lower() not in seen:
                seen.add(address.strip().lower())
                planned.append(planned_email(address, {"subject": subject, "body": body, "staff": True}))
        whatsapp = _whatsapp_content(ctx, language, subject, body)
        for raw in group.whatsapp:
            number = whatsapp_number(raw, None, ctx.settings.default_phone_region)
            if (number or raw) in seen:
                continue
            seen.add(number or raw)
            skip = None if number else f"staff WhatsApp number {raw!r} in routing.toml is not usable"
            planned.append(PlannedAction("whatsapp", number or raw, whatsapp, skip))
    return planned


def _event_values(ctx: HookContext, locale: str) -> dict[str, Any]:
    """What the event's look-ups found, formatted for one staff group's language (amounts and
    dates in its locale): the handlers pass only what the look-ups do not hold."""
    values: dict[str, Any] = {}
    if ctx.data.client:
        values.update(v.common(ctx, ctx.data.client))
    for more in (v.invoice, v.service, v.service_links, v.quote, v.domain, v.order, v.ticket, v.direct_debit):
        values.update(more(ctx, locale))
    return values


def _whatsapp_content(ctx: HookContext, language: str, subject: str, body: str) -> dict[str, Any]:
    """A staff alert on WhatsApp: the whole text inside the staff member's 24-hour window, and
    outside it the approved `StaffAlert` template (its subject and a link to the event on the
    delivery log), as every business-initiated message must go."""
    content: dict[str, Any] = {"body": f"{subject}\n{body}", "staff": True, "free_form_in_window": True}
    template = ctx.whatsapp_template(STAFF_TEMPLATE, language)
    if template is not None:
        public = ctx.settings.public_base_url
        log_url = f"{public.rstrip('/')}/log/?q={ctx.event.external_id}" if public else "(the delivery log)"
        values = {"company_name": ctx.catalog.company.get("name", ""), "subject": subject, "log_url": log_url}
        content["content_sid"] = template.content_sid
        content["content_variables"] = template.content_variables(values)
    return content


def _texts(ctx: HookContext, event: str, language: str, variables: dict[str, Any]) -> tuple[str, str]:
    if ctx.catalog.has(language, event, "staff_subject") and ctx.catalog.has(language, event, "staff_body"):
        return (
            ctx.catalog.render(language, event, "staff_subject", variables),
            ctx.catalog.render(language, event, "staff_body", variables),
        )
    who = variables.get("fullname") or f"cliente {variables['client_id']}"
    return f"[{event}] {who}", f"Evento {event} del cliente {who} (id {variables['client_id'] or '-'})."
