"""Drop secrets from inbound payloads before anything is stored or logged.

The PHP hook already forwards only an allow-list; this is the bridge's own second line:
secret keys (bridge.core.secret_keys: `password`, `securityqans`, `api_token`, ... not `passport`)
are removed wherever they appear, and any value that looks like a card
number (13-19 digits passing the Luhn check) is masked.
"""

from __future__ import annotations

import re
from typing import Any

from bridge.core.secret_keys import is_secret_key

_CARDISH = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
REDACTED = "[redacted]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_cards(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return REDACTED if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group()

    return _CARDISH.sub(replace, text)


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` with secret keys dropped and card-like numbers masked.

    Values under phone keys are left alone: a 13-digit phone number passes the Luhn
    check one time in ten, and masking it would lose the recipient.
    """
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str) and "phone" not in key.lower():
        return _mask_cards(value)
    return value
