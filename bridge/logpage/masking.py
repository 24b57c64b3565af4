"""Recipients shown masked until a staff member reveals them (and the reveal is audited)."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers


def mask_recipient(recipient: str) -> str:
    """`+5493515551234` -> `+54 9 351 ***-**34`; `lucia@radioandina.example` -> `l***@radioandina.example`.

    Anything else (a planning Action's "hooks", "-") is not personal and shown as it is.
    """
    if "@" in recipient:
        local, _, domain = recipient.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if recipient.startswith("+"):
        return _mask_phone(recipient)
    return recipient


def format_phone(recipient: str) -> str:
    """The number written the international way, for reading (the raw value if unparseable)."""
    try:
        number = phonenumbers.parse(recipient, None)
    except phonenumbers.NumberParseException:
        return recipient
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _mask_phone(recipient: str) -> str:
    # The subscriber part goes: the last seven digits but the final two. The country and
    # area codes stay, which is what staff need to tell two numbers of a client apart.
    return _mask_digits(format_phone(recipient))


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A number as people write one: starting with + or the domestic 0, eight digits or more.
# Dates, amounts and tax ids start otherwise and are left alone.
_PHONE = re.compile(r"(?<![\w.])(?:\+|0)\d[\d .()-]{6,}\d")
_PERSONAL_KEYS = ("email", "phone", "mobile", "celular", "telefono")


def mask_text(text: str) -> str:
    """Emails and phone numbers inside free text (a rendered message) masked."""
    text = _EMAIL.sub(lambda m: mask_recipient(m.group(0)), text)
    return _PHONE.sub(lambda m: _mask_digits(m.group(0)) if _digits(m.group(0)) >= 8 else m.group(0), text)


def mask_payload(value: Any, key: str = "") -> Any:
    """The payload with every value under an email or phone key, and every email or number
    found in its text, masked; the shape is kept so that staff can still read it."""
    if isinstance(value, dict):
        return {k: mask_payload(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_payload(v, key) for v in value]
    if isinstance(value, str):
        if value and any(word in key.lower() for word in _PERSONAL_KEYS):
            return mask_recipient(value) if "@" in value else _mask_digits(value)
        return mask_text(value)
    return value


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _mask_digits(text: str) -> str:
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    hidden = set(positions[-7:-2]) if len(positions) > 4 else set(positions[:-2])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))
