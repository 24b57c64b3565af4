"""The variables messages use, formatted for the reader's language (Babel)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from bridge.core.event_data import Client
from bridge.core.secret_text import excerpt
from hooks import HookContext


def system_url(ctx: HookContext) -> str:
    """WHMCS's base URL, for links into the client area."""
    if ctx.settings.whmcs_system_url:
        return ctx.settings.whmcs_system_url.rstrip("/")
    return str(ctx.catalog.company.get("client_area_url", "")).rsplit("/clientarea.php", 1)[0].rstrip("/")


def admin_url(ctx: HookContext) -> str:
    """WHMCS's admin area, for the links in staff alerts: routing's `[company] whmcs_admin_url`,
    else the system URL's `admin/` folder (WHMCS's default name for it)."""
    configured = str(ctx.catalog.company.get("whmcs_admin_url", "") or "")
    return configured.rstrip("/") if configured else f"{system_url(ctx)}/admin"


def common(ctx: HookContext, client: Client) -> dict[str, Any]:
    return {
        "firstname": client.firstname,
        "lastname": client.lastname,
        "fullname": client.fullname,
        "companyname": client.companyname,
        "email": client.email,
        "client_id": client.id,
        "company_name": ctx.catalog.company.get("name", ""),
        "client_area_url": f"{system_url(ctx)}/clientarea.php",
    }


def money(amount: Decimal | None, currency: str, locale: str) -> str:
    if amount is None:
        return ""
    if currency:
        return format_currency(amount, currency, locale=locale)
    return format_decimal(amount, format="#,##0.00", locale=locale)


def long_date(value: date | None, locale: str) -> str:
    return format_date(value, format="long", locale=locale) if value else ""


def invoice(ctx: HookContext, locale: str) -> dict[str, Any]:
    found = ctx.data.invoice
    if found is None:
        return {}
    client = ctx.data.client
    currency = found.currency_code or (client.currency_code if client else "")
    return {
        "invoice_id": found.id,
        "invoice_number": found.number,
        "invoice_total": money(found.total, currency, locale),
        "invoice_balance": money(found.balance, currency, locale),
        "due_date": long_date(found.due_date, locale),
        "date_paid": long_date(found.date_paid, locale),
        "invoice_url": f"{system_url(ctx)}/viewinvoice.php?id={found.id}",
    }


def service(ctx: HookContext, locale: str) -> dict[str, Any]:
    found = ctx.data.service
    if found is None:
        return {}
    return {
        "service_id": found.id,
        "service_name": found.name or found.domain,
        "service_domain": found.domain if found.name else "",
        "suspend_reason": found.suspend_reason,
    }


def service_links(ctx: HookContext, locale: str) -> dict[str, Any]:
    """Where the client and staff see a service: its client-area page (or the manual the
    company links per product in routing's `[company.manuals]`), its admin page, and its
    next due date (the end of the period a cancellation keeps it for)."""
    found = ctx.data.service
    if found is None:
        return {}
    client_id = ctx.data.client.id if ctx.data.client else ctx.event.client_id or ""
    manuals = ctx.catalog.company.get("manuals", {})
    pid = str(ctx.params.get("pid") or "")
    return {
        "service_url": manuals.get(pid) or f"{system_url(ctx)}/clientarea.php?action=productdetails&id={found.id}",
        "service_admin_url": f"{admin_url(ctx)}/clientsservices.php?userid={client_id}&id={found.id}",
        "end_date": long_date(found.next_due_date, locale),
    }


def ticket(ctx: HookContext, locale: str) -> dict[str, Any]:
    found = ctx.data.ticket
    if found is None:
        return {}
    return {
        "ticket_number": found.number or found.id,
        "ticket_subject": found.subject,
        "ticket_priority": found.priority,
        "ticket_department": found.department_name,
        "ticket_status": found.status,
        "ticket_excerpt": excerpt(str(ctx.params.get("message") or "")),
        "ticket_admin_url": f"{admin_url(ctx)}/supporttickets.php?action=view&id={found.id}",
        "requester": found.requester or (ctx.data.client.fullname if ctx.data.client else ""),
        "flagged_admin": ctx.data.flagged_admin.name if ctx.data.flagged_admin else "",
    }


def order(ctx: HookContext, locale: str) -> dict[str, Any]:
    found = ctx.data.order
    if found is None:
        return {}
    currency = ctx.data.client.currency_code if ctx.data.client else ""
    products = "\n".join(f"- {line.product}{f' ({line.domain})' if line.domain else ''}" for line in found.lines)
    return {
        "order_id": found.id,
        "order_number": found.number,
        "order_total": money(found.total, currency, locale),
        "order_payment_method": found.payment_method_name or found.payment_method,
        "order_products": products,
        "order_status": found.status,
        "order_admin_url": f"{admin_url(ctx)}/orders.php?action=view&id={found.id}",
    }


def quote(ctx: HookContext, locale: str) -> dict[str, Any]:
    found = ctx.data.quote
    if found is None:
        return {}
    currency = ctx.data.client.currency_code if ctx.data.client else ""
    return {
        "quote_number": found.id,
        "quote_subject": found.subject,
        "quote_total": money(found.total, currency, locale),
        "valid_until": long_date(found.valid_until, locale),
        "quote_url": f"{system_url(ctx)}/viewquote.php?id={found.id}",
        "quote_stage": found.stage,
        "lead_name": found.lead_name,
        "lead_email": found.lead_email,
    }


def domain(ctx: HookContext, locale: str) -> dict[str, Any]:
    return {"domain_name": ctx.data.domain_name}


def direct_debit(ctx: HookContext, locale: str) -> dict[str, Any]:
    """Card direct debit: the card (brand and last four only), the debit day, the debit."""
    values: dict[str, Any] = {}
    adhesion = ctx.data.adhesion
    if adhesion is not None:
        values.update(
            card_brand=adhesion.card_brand.upper(),
            card_last_four=adhesion.last_four,
            debit_day=adhesion.debit_day or "",
            adhesion_id=adhesion.pagos360_id,
            reason=adhesion.state_comment,
        )
    debit = ctx.data.debit
    if debit is not None:
        invoice = ctx.data.invoice
        currency = (invoice.currency_code if invoice else "") or (
            ctx.data.client.currency_code if ctx.data.client else ""
        )
        values.update(
            debit_id=debit.pagos360_id,
            debit_amount=money(debit.amount, currency, locale),
            debit_state=debit.state,
            reason=debit.state_comment,
        )
    return values
