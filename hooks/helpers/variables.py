"""The variables messages use, formatted for the reader's language (Babel)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from bridge.core.event_data import Client
from hooks import HookContext


def system_url(ctx: HookContext) -> str:
    """WHMCS's base URL, for links into the client area."""
    if ctx.settings.whmcs_system_url:
        return ctx.settings.whmcs_system_url.rstrip("/")
    return str(ctx.catalog.company.get("client_area_url", "")).rsplit("/clientarea.php", 1)[0].rstrip("/")


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
