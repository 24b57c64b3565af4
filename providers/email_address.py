"""One email Action, one reader: a recipient field must hold exactly one address.

WHMCS stores whatever was typed into a client's or contact's email field, and an SMTP
relay delivers to every address in a To: header, so "a@x.example, b@evil.example" (or a
`;`, or a line break) would send one client's invoice to two people. The planners record
such a value as a skipped Action with the reason; the SMTP provider refuses it as well.
"""

from __future__ import annotations

import unicodedata
from email.utils import getaddresses

# What separates addresses in a header (, ;), or starts a new header line (CR, LF).
_SEPARATORS = (",", ";")


class NotOneAddress(ValueError):
    """The value is not exactly one email address; the message says why, for staff."""


def single_address(raw: str) -> str:
    """`raw` without surrounding spaces, if it is exactly one bare address (`name@domain`).

    Raises NotOneAddress otherwise: empty, no `@`, a separator, a space or a control
    character (a line break) inside, or anything email.utils reads as more or other than
    that one address (a display name, angle brackets, a comment).
    """
    value = raw.strip()
    if "@" not in value:
        raise NotOneAddress("no email address")
    if any(sep in value for sep in _SEPARATORS) or any(_breaks(ch) for ch in value):
        raise NotOneAddress(f"not one email address (a separator, space or line break in it): {value!r}")
    local, _, domain = value.rpartition("@")
    if not local or not domain or getaddresses([value]) != [("", value)]:
        raise NotOneAddress(f"not one email address: {value!r}")
    return value


def _breaks(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
