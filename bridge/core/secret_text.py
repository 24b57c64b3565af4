"""What a customer wrote, made fit for a staff alert: cut short, secrets hidden.

Customers paste credentials into tickets ("mi clave es Hx7-22ab"), and a staff alert travels
by email and WhatsApp to people's phones, so before a ticket's text goes into one:

- a word after "clave", "contraseña", "password", "senha", "pin", "token", "key" (and
  their like, followed or not by ":", "=", "es", "is") is replaced;
- a run of 13 to 19 digits (spaces or dashes between) that passes the Luhn check and starts
  with 2 to 6, which is what card numbers are, is replaced; a CBU (22 digits) or a phone number is not;
- a token of 24 or more letters and digits mixed (an API key, a hash) is replaced.

The full text stays in WHMCS, where the ticket is; the alert links to it.
"""

from __future__ import annotations

import re

HIDDEN = "••••••"
EXCERPT_CHARACTERS = 300

_AFTER_WORD = re.compile(
    r"(?P<word>\b(?:clave|contrase[ñn]a|password|passwd|pass|pwd|senha|pin|token|api[ _-]?key|key|secret|"
    r"secreto|usuario y clave)\b)(?P<joint>\s*(?:[:=]|\bes\b|\bis\b|\b[eé]\b)?\s*)(?P<value>[^\s,;]+)",
    re.IGNORECASE,
)
# Card numbers start with 2 to 6 (Mastercard, Visa, Amex, Discover...): a domestic phone starts with 0.
_CARD = re.compile(r"(?<!\d)[2-6](?:[ -]?\d){12,18}(?!\d)")
_KEY = re.compile(r"\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{24,}\b")


def hide_secrets(text: str) -> str:
    text = _AFTER_WORD.sub(lambda m: f"{m.group('word')}{m.group('joint')}{HIDDEN}", text)
    text = _CARD.sub(lambda m: HIDDEN if _luhn(m.group(0)) else m.group(0), text)
    return _KEY.sub(HIDDEN, text)


def excerpt(text: str, limit: int = EXCERPT_CHARACTERS) -> str:
    """The text with secrets hidden, its blank lines folded, cut at a word near `limit`."""
    clean = re.sub(r"\n{3,}", "\n\n", hide_secrets(text).replace("\r\n", "\n")).strip()
    if len(clean) <= limit:
        return clean
    cut = clean[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.8 else cut).rstrip(" ,.;:") + "…"


def _luhn(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
