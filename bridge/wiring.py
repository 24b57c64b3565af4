"""The bridge's working parts, built from its Settings: the providers, the executors (one
per channel: the planner, the payment guard, the providers), the Deliverer and the Relay.

`bridge.services` holds what the app built (state only); this module is the factory.
`create_app` builds the providers and the API clients once per app; a worker builds one
Deliverer per worker name (bridge.jobs keeps it), the relay command one Relay. Nothing
here is stored: call again, get a new one over the same app state.
"""

from __future__ import annotations

from typing import Any

from bridge.core.retry import RetryPolicy
from bridge.core.settings import Settings
from bridge.planning.planner import Planner, resolvers_for
from bridge.services import Services
from bridge.work.cancellations import CancellationRecorder
from bridge.work.deliverer import Deliverer, Pacing
from bridge.work.executors import Executor, ProviderExecutor
from bridge.work.orders import OrderActivator
from bridge.work.payments import PaymentGuard
from bridge.work.ratelimit import RateLimiter
from bridge.work.relay import Relay
from bridge.work.scheduled_notices import ScheduledNoticeKeeper
from bridge.work.whatsapp_gate import ConsentRecorder, WhatsAppGate
from bridge.work.whatsapp_tickets import MediaFetcher, WhatsAppTickets
from providers import Provider
from providers.dry_run import DryRun
from providers.pagos360 import Pagos360Api, Pagos360Debits
from providers.smtp_email import SmtpEmail
from providers.twilio_content import ContentApi, DryRunContent, TwilioContent
from providers.twilio_sms import TwilioSms
from providers.twilio_whatsapp import TwilioWhatsApp
from providers.whmcs_api import WhmcsApi, WhmcsChanges, WhmcsOrders, WhmcsPayments


def build_pagos360_api(settings: Settings) -> Pagos360Api | None:
    """The Pagos360 API client, or None when PAGOS360_API_KEY is not set."""
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


def build_content_api(settings: Settings) -> ContentApi:
    """Twilio's Content API (WhatsApp templates), or the dry run that approves every
    template when the Twilio credentials are not set."""
    if not settings.twilio_configured:
        return DryRunContent()
    return TwilioContent(
        account_sid=settings.twilio_account_sid or "",
        auth_token=settings.twilio_auth_token or "",
        api_base=settings.twilio_content_api_base,
        timeout=settings.twilio_timeout_seconds,
    )


def _twilio_account(settings: Settings) -> dict[str, Any]:
    """What every Twilio Messages sender shares: the account, the API base, the timeout, and
    where Twilio posts the receipts."""
    return {
        "account_sid": settings.twilio_account_sid or "",
        "auth_token": settings.twilio_auth_token or "",
        "api_base": settings.twilio_api_base,
        "timeout": settings.twilio_timeout_seconds,
        "status_callback": settings.twilio_status_callback_url,
    }


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One provider per channel, real where configured, DryRun where not; each paced
    sender gets its own send rate setting."""
    providers: dict[str, Provider] = {}
    if settings.twilio_configured:
        providers["whatsapp"] = TwilioWhatsApp(
            **_twilio_account(settings),
            from_number=settings.twilio_whatsapp_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            per_second=settings.rate_limit_whatsapp_per_second,
        )
    else:
        providers["whatsapp"] = DryRun("whatsapp", "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_WHATSAPP_FROM not set")
    if settings.twilio_sms_configured:
        providers["sms"] = TwilioSms(
            **_twilio_account(settings),
            from_number=settings.twilio_sms_from,
            messaging_service_sid=None if settings.twilio_sms_from else settings.twilio_messaging_service_sid,
            per_second=settings.rate_limit_sms_per_second,
        )
    else:
        providers["sms"] = DryRun("sms", "TWILIO_SMS_FROM not set")
    if settings.smtp_configured:
        providers["email"] = SmtpEmail(
            host=settings.smtp_host or "",
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            mail_from=settings.mail_from,
            timeout=settings.smtp_timeout_seconds,
            per_second=settings.rate_limit_email_per_second,
        )
    else:
        providers["email"] = DryRun("email", "SMTP_HOST not set")
    whmcs = build_whmcs_api(settings)
    if whmcs is not None:
        providers["whmcs"] = WhmcsChanges(whmcs)
        providers["whmcs_payment"] = WhmcsPayments(whmcs)
        providers["whmcs_order"] = WhmcsOrders(whmcs)
    else:
        providers["whmcs"] = DryRun("whmcs", "WHMCS_API_URL not set")
        providers["whmcs_payment"] = DryRun("whmcs_payment", "WHMCS_API_URL not set")
        providers["whmcs_order"] = DryRun("whmcs_order", "WHMCS_API_URL not set")
    pagos360 = build_pagos360_api(settings)
    if pagos360 is not None:
        providers["pagos360_debit"] = Pagos360Debits(pagos360)
    else:
        providers["pagos360_debit"] = DryRun("pagos360_debit", "PAGOS360_API_KEY not set")
    return providers


def retry_policy(settings: Settings) -> RetryPolicy:
    s = settings
    return RetryPolicy(s.retry_max_attempts, s.retry_base_seconds, s.retry_max_seconds)


def build_planner(svc: Services) -> Planner:
    resolvers = resolvers_for(svc.db, svc.settings, svc.whmcs, svc.pagos360, svc.catalog.reminders.rejected_cycles)
    return Planner(svc.db, svc.hooks, svc.catalog, svc.settings, svc.whmcs, resolvers)


def build_executors(svc: Services) -> dict[str, Executor]:
    """The one table the Deliverer looks channels up in: every provider of the app, the
    `whmcs_payment` one behind the payment guard (which claims a payment before WHMCS is
    asked, so it is added once), `whmcs_order` behind the order claim (accepted once),
    WhatsApp behind its consent and window checks, the planner,
    the recorder of a number's WhatsApp consent, and the customer's WhatsApp messages into
    WHMCS tickets."""
    executors: dict[str, Executor] = {}
    for channel, provider in svc.providers.items():
        if isinstance(provider, WhmcsPayments):
            executors[channel] = PaymentGuard(svc.db, provider)
        elif isinstance(provider, WhmcsOrders):
            executors[channel] = OrderActivator(svc.db, provider)
        elif channel == "whatsapp":
            dry_run = not svc.settings.twilio_configured
            executors[channel] = WhatsAppGate(svc.db, provider, dry_run=dry_run)
        else:
            executors[channel] = ProviderExecutor(provider)
    planner = build_planner(svc)
    executors[planner.channel] = planner
    consent = ConsentRecorder(svc.db)
    executors[consent.channel] = consent
    cancellations = CancellationRecorder(svc.db)
    executors[cancellations.channel] = cancellations
    notices = ScheduledNoticeKeeper(svc.db)
    executors[notices.channel] = notices
    tickets = WhatsAppTickets(
        svc.db, svc.whmcs, build_media_fetcher(svc.settings), svc.catalog.inbound.ticket_department_id
    )
    executors[tickets.channel] = tickets
    return executors


def build_media_fetcher(settings: Settings) -> MediaFetcher | None:
    """What downloads a customer's WhatsApp photos and files from Twilio (its credentials)."""
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        return None
    return MediaFetcher(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_timeout_seconds * 2)


def build_deliverer(svc: Services, worker_name: str = "") -> Deliverer:
    """A Deliverer over the app's state; `worker_name` is recorded on its attempts."""
    s = svc.settings
    pacing = Pacing(
        limiter=RateLimiter(svc.redis),
        max_wait=s.rate_limit_max_wait_seconds,
        throttle_pause=s.throttle_pause_seconds,
    )
    return Deliverer(svc.db, svc.queue, build_executors(svc), retry_policy(s), pacing, worker_name)


def build_relay(svc: Services) -> Relay:
    s = svc.settings
    return Relay(
        svc.db,
        svc.queue,
        retry_policy(s),
        grace_seconds=s.relay_queued_grace_seconds,
        sending_timeout_seconds=s.relay_sending_timeout_seconds,
    )
