"""WhatsApp messages through Twilio's Messages API, with the official `twilio` library."""

from __future__ import annotations

import json
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from providers.base import ProviderError, SendResult, transient_http_status

# Twilio error codes that mean "try later" even when the HTTP status does not, and those
# among them that mean "slow down".
TRANSIENT_TWILIO_CODES = frozenset({20429, 20500, 20503, 63018, 30001})
THROTTLE_TWILIO_CODES = frozenset({20429, 63018})


class TwilioWhatsApp:
    """Sends one WhatsApp message: an approved template (ContentSid) or a plain Body.

    `content` keys: `body` (always, the text as rendered), and optionally `content_sid`
    with `content_variables` (a dict) for a business-initiated template message.
    """

    channel = "whatsapp"
    templates = True  # WhatsApp carries approved Content templates; SMS sends bodies only

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None,
        messaging_service_sid: str | None,
        api_base: str = "https://api.twilio.com",
        timeout: float = 10.0,
        status_callback: str | None = None,
        per_second: float | None = None,
    ) -> None:
        """`per_second`: the sender's send rate (RATE_LIMIT_WHATSAPP_PER_SECOND), shared by
        every worker; None: not paced."""
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        # The library builds every URL from the domain's base_url: pointing it elsewhere
        # is how a regional endpoint, a proxy or the test mock is reached.
        self.client.api.base_url = api_base.rstrip("/")
        if self.client.api.base_url != "https://api.twilio.com":
            # TWILIO_EDGE / TWILIO_REGION would rewrite the host of a custom base URL.
            self.client.edge = self.client.region = None
        self.from_number = self.address(from_number) if from_number else None
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        self.rate_key = f"twilio:{messaging_service_sid or self.from_number}"
        self.per_second = per_second

    def address(self, number: str) -> str:
        """How Twilio's Messages API names `number` on this channel."""
        return _whatsapp_address(number)

    def send(self, recipient: str, content: dict[str, Any]) -> SendResult:
        params: dict[str, Any] = {"to": self.address(recipient)}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if self.from_number:
            params["from_"] = self.from_number
        if content.get("content_sid") and self.templates:
            params["content_sid"] = content["content_sid"]
            params["content_variables"] = json.dumps(content.get("content_variables") or {}, ensure_ascii=False)
        else:
            params["body"] = content["body"]
        if self.status_callback:
            params["status_callback"] = self.status_callback
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            code = int(exc.code) if exc.code else None
            transient = transient_http_status(exc.status) or code in TRANSIENT_TWILIO_CODES
            raise ProviderError(
                f"Twilio refused the message: {exc.msg}",
                permanent=not transient,
                http_status=exc.status,
                code=str(code) if code else None,
                throttled=exc.status == 429 or code in THROTTLE_TWILIO_CODES,
            ) from exc
        except requests.RequestException as exc:
            raise ProviderError(f"Twilio unreachable: {type(exc).__name__}: {exc}", permanent=False) from exc
        except TwilioException as exc:
            raise ProviderError(f"Twilio client error: {exc}", permanent=False) from exc
        return SendResult(provider_ref=message.sid or "", http_status=201, detail={"status": message.status})


def _whatsapp_address(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"
