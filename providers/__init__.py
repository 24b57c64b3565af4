"""How things are sent: one module per outside system, built from the settings.

A channel whose credentials are not set gets a DryRun that records what it would have
sent, so the bridge runs end to end on a fresh machine.
"""

from __future__ import annotations

from bridge.settings import Settings
from providers.base import Provider, ProviderError, SendResult
from providers.dry_run import DryRun
from providers.pagos360 import Pagos360Api, Pagos360Debits
from providers.smtp_email import SmtpEmail
from providers.twilio_whatsapp import TwilioWhatsApp
from providers.whmcs_api import WhmcsApi, WhmcsChanges, WhmcsPayments

__all__ = ["Provider", "ProviderError", "SendResult", "build_pagos360_api", "build_providers", "build_whmcs_api"]


def build_pagos360_api(settings: Settings) -> Pagos360Api | None:
    if not settings.pagos360_api_key:
        return None
    return Pagos360Api(
        api_key=settings.pagos360_api_key,
        base_url=settings.pagos360_api_base,
        timeout=settings.pagos360_timeout_seconds,
    )


def build_whmcs_api(settings: Settings) -> WhmcsApi | None:
    """The WHMCS API client, or None when it is not configured (hooks then use only
    what the hook parameters carry)."""
    if not settings.whmcs_api_configured:
        return None
    return WhmcsApi(
        url=settings.whmcs_api_url or "",
        identifier=settings.whmcs_api_identifier or "",
        secret=settings.whmcs_api_secret or "",
        accesskey=settings.whmcs_api_accesskey,
        timeout=settings.whmcs_api_timeout_seconds,
    )


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One provider per channel, real where configured, DryRun where not."""
    providers: dict[str, Provider] = {}
    if settings.twilio_configured:
        providers["whatsapp"] = TwilioWhatsApp(
            account_sid=settings.twilio_account_sid or "",
            auth_token=settings.twilio_auth_token or "",
            from_number=settings.twilio_whatsapp_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base=settings.twilio_api_base,
            timeout=settings.twilio_timeout_seconds,
            status_callback=settings.twilio_status_callback_url,
        )
    else:
        providers["whatsapp"] = DryRun("whatsapp", "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_WHATSAPP_FROM not set")
    if settings.smtp_configured:
        providers["email"] = SmtpEmail(
            host=settings.smtp_host or "",
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            mail_from=settings.mail_from,
            timeout=settings.smtp_timeout_seconds,
        )
    else:
        providers["email"] = DryRun("email", "SMTP_HOST not set")
    whmcs = build_whmcs_api(settings)
    if whmcs is not None:
        providers["whmcs"] = WhmcsChanges(whmcs)
        providers["whmcs_payment"] = WhmcsPayments(whmcs)
    else:
        providers["whmcs"] = DryRun("whmcs", "WHMCS_API_URL not set")
        providers["whmcs_payment"] = DryRun("whmcs_payment", "WHMCS_API_URL not set")
    pagos360 = build_pagos360_api(settings)
    if pagos360 is not None:
        providers["pagos360_debit"] = Pagos360Debits(pagos360)
    else:
        providers["pagos360_debit"] = DryRun("pagos360_debit", "PAGOS360_API_KEY not set")
    return providers
