"""What Twilio's error codes mean, in words a staff member can act on.

The common ones for WhatsApp messages; the rest link to Twilio's error dictionary.
"""

from __future__ import annotations

MEANINGS = {
    21211: "invalid 'To' phone number",
    21408: "sending to this region is not enabled in the Twilio account",
    21610: "the recipient has unsubscribed (replied STOP)",
    30003: "unreachable destination handset",
    30004: "message blocked",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30007: "message filtered by the carrier",
    30008: "unknown error from the carrier",
    63003: "the number is not on WhatsApp",
    63005: "WhatsApp did not accept the content",
    63013: "WhatsApp policy violation",
    63016: "outside the 24-hour window: a business-initiated message needs an approved template",
    63018: "WhatsApp rate limit exceeded for this sender",
    63024: "invalid message recipient",
    63032: "WhatsApp does not deliver marketing messages to this user",
    63049: "WhatsApp chose not to deliver this marketing message",
}


def describe(code: int | str | None) -> str:
    """ "63016: outside the 24-hour window: ..." or "30999: see https://www.twilio.com/docs/api/errors/30999"."""
    if code in (None, ""):
        return ""
    try:
        number = int(str(code))
    except ValueError:
        return str(code)
    meaning = MEANINGS.get(number, f"see https://www.twilio.com/docs/api/errors/{number}")
    return f"{number}: {meaning}"
