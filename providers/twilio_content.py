"""WhatsApp templates through Twilio's Content API, with the official `twilio` library.

Three calls: make a Content resource (a text with `{{1}}`-style variables and their sample
values), ask WhatsApp to approve it, and read where the approval stands. Content resources
cannot be edited; a changed text is a new resource (bridge.scheduled.template_sync).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList
from twilio.rest.content.v1.content.approval_create import ApprovalCreateList

from providers.base import ProviderError, transient_http_status

# Billing and service notices about the customer's own account: WhatsApp's utility category.
UTILITY = "UTILITY"

T = TypeVar("T")


@dataclass(frozen=True)
class Approval:
    """Where WhatsApp's review of one template stands: Twilio's `whatsapp.status`
    (unsubmitted, received, pending, approved, rejected, paused, disabled) and, when
    rejected, Twilio's reason."""

    status: str
    rejection_reason: str = ""


class ContentApi(Protocol):
    """What bridge.scheduled.template_sync needs of the Content API (Twilio's or the dry run)."""

    dry_run: bool

    def create(self, name: str, language: str, body: str, samples: tuple[str, ...]) -> str:
        """Make the Content resource; returns its sid (HX…)."""
        ...

    def request_approval(self, content_sid: str, name: str, category: str = UTILITY) -> Approval: ...

    def approval(self, content_sid: str) -> Approval: ...


class TwilioContent:
    """Twilio's Content API. Every failure is a ProviderError (permanent when Twilio refused
    the request itself, not when it could not be reached or was busy)."""

    dry_run = False

    def __init__(
        self, *, account_sid: str, auth_token: str, api_base: str = "https://content.twilio.com", timeout: float = 10.0
    ) -> None:
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        # As for messages (providers.twilio_whatsapp): the library builds every URL from the
        # domain's base_url, which is how a proxy or the test mock is reached.
        self.client.content.base_url = api_base.rstrip("/")
        if self.client.content.base_url != "https://content.twilio.com":
            self.client.edge = self.client.region = None

    def create(self, name: str, language: str, body: str, samples: tuple[str, ...]) -> str:
        request = ContentList.ContentCreateRequest(
            {
                "friendly_name": name,
                "language": language,
                "variables": {str(i): value for i, value in enumerate(samples, start=1)},
                "types": {"twilio/text": {"body": body}},
            }
        )
        content = _call("create the template", lambda: self.client.content.v1.contents.create(request))
        return content.sid or ""

    def request_approval(self, content_sid: str, name: str, category: str = UTILITY) -> Approval:
        request = ApprovalCreateList.ContentApprovalRequest({"name": name, "category": category})
        answer = _call(
            "ask WhatsApp to approve the template",
            lambda: self.client.content.v1.contents(content_sid).approval_create.create(request),
        )
        return Approval(answer.status or "received", answer.rejection_reason or "")

    def approval(self, content_sid: str) -> Approval:
        answer = _call(
            "read the template's approval",
            lambda: self.client.content.v1.contents(content_sid).approval_fetch().fetch(),
        )
        whatsapp = answer.whatsapp or {}
        return Approval(str(whatsapp.get("status") or "unsubmitted"), str(whatsapp.get("rejection_reason") or ""))


class DryRunContent:
    """No Twilio credentials: every template is approved at once and recorded as a dry run,
    so the embedded mode sends as production would. Its sids are stable per name."""

    dry_run = True

    def create(self, name: str, language: str, body: str, samples: tuple[str, ...]) -> str:
        return "HX" + hashlib.sha256(f"{name}\n{body}".encode()).hexdigest()[:32]

    def request_approval(self, content_sid: str, name: str, category: str = UTILITY) -> Approval:
        return Approval("approved")

    def approval(self, content_sid: str) -> Approval:
        return Approval("approved")


def _call(what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except TwilioRestException as exc:
        raise ProviderError(
            f"Twilio would not {what}: {exc.msg}",
            permanent=not transient_http_status(exc.status),
            http_status=exc.status,
            code=str(exc.code) if exc.code else None,
            throttled=exc.status == 429,
        ) from exc
    except requests.RequestException as exc:
        raise ProviderError(f"Twilio unreachable: {type(exc).__name__}: {exc}", permanent=False) from exc
    except TwilioException as exc:
        raise ProviderError(f"Twilio client error: {exc}", permanent=False) from exc
