"""SMS through Twilio's Messages API, with the official `twilio` library: the fallback channel
of WhatsApp notices (bridge.core.fallback)."""

from __future__ import annotations

from providers.twilio_whatsapp import TwilioWhatsApp


class TwilioSms(TwilioWhatsApp):
    """Sends one SMS: a plain body from TWILIO_SMS_FROM (or the Messaging Service) to the
    number as it is. The same client, errors and retries as WhatsApp's; its own sender and
    send rate (RATE_LIMIT_SMS_PER_SECOND)."""

    channel = "sms"
    templates = False

    def address(self, number: str) -> str:
        return number.removeprefix("whatsapp:")
