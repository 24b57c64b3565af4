"""Recipients shown masked until a staff member reveals them (and the reveal is audited).

`Masker` is the one place that decides what of a phone number or an email address staff
see: the pages, the exports and the JSON API turn their rows into what they show through
it (bridge.logpage.shown). It masks two things in any text:

- the recipients it is given (the Actions' own), however they are written there: Twilio's
  error quotes the number as `whatsapp:+5493515551234`, a skip reason quotes the raw field
  (`'351 555 1234'`), a payload may carry it as a JSON number;
- any other email address, and any phone number written the international (`+…`) or the
  domestic (`0…`) way, found by pattern.

Staff accounts' own emails ("retried by ana@hosting.example") are left readable: who did
what is not a customer's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import phonenumbers

from bridge.core.actions import CONSENT_CHANNEL, TICKET_CHANNEL

# Channels whose recipient is a person's phone number; and those whose recipient names a
# record of the company's (a client or invoice id, a card adhesion), not a way to reach
# someone: shown as they are. Any other channel's recipient is a person's contact.
PHONE_CHANNELS = frozenset({"whatsapp", "sms", CONSENT_CHANNEL, TICKET_CHANNEL})
SYSTEM_CHANNELS = frozenset(
    {
        "plan",
        "hook",
        "none",
        "whmcs",
        "whmcs_payment",
        "whmcs_order",
        "pagos360_debit",
        "cancellation",
        "scheduled_notice",
    }
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A number as people write one: starting with + or the domestic 0, eight digits or more.
# Dates, amounts and tax ids start otherwise and are left alone.
_PHONE = re.compile(r"(?<![\w.])(?:\+|0)\d[\d .()-]{6,}\d")
_PERSONAL_KEYS = ("email", "phone", "mobile", "celular", "telefono")
_MIN_KNOWN_DIGITS = 6


def mask_recipient(recipient: str, channel: str = "") -> str:
    """`+5493515551234` -> `+54 9 351 ***-**34`; `lucia@radioandina.example` -> `l***@radioandina.example`.

    A WhatsApp recipient is masked however it was typed (a skipped one keeps the raw field:
    `0351 15 555-1234` -> `0351 15 ***-**34`); an email field holding several addresses has
    each masked. The recipients of SYSTEM_CHANNELS ("hooks", "invoice 12") and "-" are not
    personal and shown as they are; without a channel, only what looks like an address or
    an international number is masked.
    """
    if recipient in ("", "-") or channel in SYSTEM_CHANNELS:
        return recipient
    if "@" in recipient:
        masked = _EMAIL.sub(lambda m: _mask_email(m.group(0)), recipient)
        return masked if masked != recipient else _mask_email(recipient)
    if recipient.startswith("+"):
        return _mask_phone(recipient)
    if channel in PHONE_CHANNELS:
        return _mask_digits(recipient)
    if channel:
        return recipient[:1] + "***"  # a contact field with no usable address: still the customer's
    return recipient


def personal_recipients(actions: Iterable[Any]) -> list[str]:
    """The recipients of these Actions that are people's contacts (see SYSTEM_CHANNELS)."""
    return [a.recipient for a in actions if a.channel not in SYSTEM_CHANNELS]


def format_phone(recipient: str) -> str:
    """The number written the international way, for reading (the raw value if unparseable)."""
    try:
        number = phonenumbers.parse(recipient, None)
    except phonenumbers.NumberParseException:
        return recipient
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


class Masker:
    """Masks the given recipients, and every other email or phone number, in what staff see.

    `recipients`: the Actions' recipients (as stored: E.164, an address, or a raw field).
    `keep`: addresses shown as they are (the staff accounts').
    """

    def __init__(self, recipients: Iterable[str] = (), keep: Iterable[str] = ()) -> None:
        self._recipients = [r for r in recipients if r and r != "-"]
        self._keep = {k.lower() for k in keep}
        self._forms: tuple[set[str], re.Pattern[str] | None] | None = None

    def text(self, value: str | None) -> str:
        """Free text (a provider's error, a state history reason, a message) with every
        known recipient, email address and phone number in it masked."""
        if not value:
            return value or ""
        digit_forms, emails = self._known()
        if emails is not None and "@" in value:
            value = emails.sub(lambda m: _mask_email(m.group(0)), value)
        if digit_forms:
            value = _DIGIT_RUN.sub(lambda m: self._mask_run(m.group(0), digit_forms), value)
        value = _EMAIL.sub(lambda m: m.group(0) if m.group(0).lower() in self._keep else _mask_email(m.group(0)), value)
        return _PHONE.sub(lambda m: _mask_digits(m.group(0)) if _digits(m.group(0)) >= 8 else m.group(0), value)

    def payload(self, value: Any, key: str = "") -> Any:
        """The payload with every value under an email or phone key, every known recipient
        (a JSON number included) and every email or number in its text masked; the shape is
        kept so that staff can still read it."""
        if isinstance(value, dict):
            return {k: self.payload(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.payload(v, key) for v in value]
        if isinstance(value, bool) or value is None:
            return value
        personal = any(word in key.lower() for word in _PERSONAL_KEYS)
        if isinstance(value, int | float):
            # A phone number sent as a JSON number becomes text once masked.
            digits = _digit_string(value)
            if personal or self._mask_run(digits, self._known()[0]) != digits:
                return _mask_digits(digits)
            return value
        if isinstance(value, str):
            if value and personal:
                return mask_recipient(value) if "@" in value else _mask_digits(value)
            return self.text(value)
        return value

    def _known(self) -> tuple[set[str], re.Pattern[str] | None]:
        """The recipients' digit forms (the number as stored, and its national part) and a
        pattern of their addresses; worked out on first use, as most export rows have no
        text to look into."""
        if self._forms is None:
            digit_forms: set[str] = set()
            addresses: list[str] = []
            for recipient in self._recipients:
                if "@" in recipient:
                    addresses.extend(_EMAIL.findall(recipient) or [recipient])
                else:
                    digit_forms |= _digit_forms(recipient)
            emails = re.compile("|".join(map(re.escape, addresses)), re.IGNORECASE) if addresses else None
            self._forms = (digit_forms, emails)
        return self._forms

    @staticmethod
    def _mask_run(run: str, digit_forms: set[str]) -> str:
        digits = "".join(ch for ch in run if ch.isdigit())
        return _mask_digits(run) if any(form in digits for form in digit_forms) else run


# A run of digits as a number is written in text ("+54 9 351 555-1234", "whatsapp:+549…").
_DIGIT_RUN = re.compile(r"\d(?:[\s().-]*\d)*")


def _digit_forms(recipient: str) -> set[str]:
    # A known recipient's digits are looked for in texts only from _MIN_KNOWN_DIGITS on: a
    # shorter run would mask invoice numbers and amounts that happen to share it.
    forms = {"".join(ch for ch in recipient if ch.isdigit())}
    try:
        forms.add(str(phonenumbers.parse(recipient, None).national_number))
    except phonenumbers.NumberParseException:
        pass
    return {form for form in forms if len(form) >= _MIN_KNOWN_DIGITS}


def _mask_email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def _mask_phone(recipient: str) -> str:
    # The subscriber part goes: the last seven digits but the final two. The country and
    # area codes stay, which is what staff need to tell two numbers of a client apart.
    return _mask_digits(format_phone(recipient))


def _digit_string(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _mask_digits(text: str) -> str:
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    hidden = set(positions[-7:-2]) if len(positions) > 4 else set(positions[:-2])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))
