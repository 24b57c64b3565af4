"""Reading one field of an event, or of a look-up's answer, as the shape it must have.

A WHMCS hook's parameters are whatever the panel (or a module, or an admin's custom
hook) put there; Pagos360's and WHMCS's answers are read the same way. A field of the
wrong shape (a list where an object belongs, letters where a number belongs) cannot be
fixed by asking again, so these readers raise `EventShapeError`, which the planner turns
into a permanent failure of the planning naming the field, instead of an AttributeError
or ValueError that would be retried until the attempts run out.

What PHP's json_encode writes for "nothing" (null, false, "", and [] for an empty array)
reads as empty in every shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

_NUMERIC = int | float | Decimal
MAX_NUMBER = 2**31 - 1
# A UTF-16 surrogate alone is no character: no database can store it, nothing can clean it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class EventShapeError(ValueError):
    """Field `field` holds `got` where `expected` belongs. Permanent: retrying reads the
    same value again."""

    def __init__(self, field: str, expected: str, got: Any) -> None:
        shown = repr(got)
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        super().__init__(f"field {field}: expected {expected}, got {shown}")
        self.field = field
        self.expected = expected
        self.got = got


def _is_empty(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, str | list | dict) and not value)


def text(value: Any, field: str, max_length: int | None = None) -> str:
    """A text field: strings as they are, numbers written out, empty for nothing.

    What a look-up answered was not cleaned at the door like the hook's own fields
    (bridge.inbound.parse), so the same rule applies here: NUL removed, a lone surrogate refused
    (no database can store it). `max_length`, for a value the bridge stores in a column of
    that width: a longer one is refused here, naming the field, rather than by the
    database at commit (which would be retried in vain)."""
    if _is_empty(value):
        return ""
    if isinstance(value, str):
        if LONE_SURROGATE.search(value):
            raise EventShapeError(field, "text", value)
        found = value.replace("\x00", "")
    elif isinstance(value, bool | _NUMERIC):
        found = str(value)
    else:
        raise EventShapeError(field, "text", value)
    if max_length is not None and len(found) > max_length:
        raise EventShapeError(field, f"text of at most {max_length} characters", found)
    return found


def identifier(value: Any, field: str) -> str | None:
    """An id (WHMCS writes them as numbers or as strings of digits); None when absent.
    0 and "0" are WHMCS's "none"."""
    if _is_empty(value) or value in (0, "0"):
        return None
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise EventShapeError(field, "an id", value)


def number(value: Any, field: str, default: int = 0) -> int:
    """A whole number, written as a number or as a string of digits, within WHMCS's
    INT columns (the bridge stores group ids in 32-bit columns too)."""
    if _is_empty(value):
        return default
    found: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        found = value
    elif isinstance(value, float) and value.is_integer():
        found = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():
        # Longer cannot be in range, and a few thousand digits would not even convert.
        found = int(value) if len(value.strip()) <= 12 else MAX_NUMBER + 1
    if found is None:
        raise EventShapeError(field, "a number", value)
    if not -MAX_NUMBER <= found <= MAX_NUMBER:
        raise EventShapeError(field, f"a number up to {MAX_NUMBER}", value)
    return found


def mapping(value: Any, field: str) -> Mapping[str, Any]:
    """An object (a PHP associative array)."""
    if _is_empty(value):
        return {}
    if isinstance(value, dict):
        return value
    raise EventShapeError(field, "an object", value)


def first_identifier(*candidates: tuple[Any, str]) -> str | None:
    """The first present id among (value, field name) pairs."""
    for value, field in candidates:
        found = identifier(value, field)
        if found is not None:
            return found
    return None


CENT = Decimal("0.01")


def money(value: Any, field: str) -> Decimal | None:
    """An amount of money, to the cent; None when absent.

    WHMCS and Pagos360 write amounts as numbers or as strings ("12.50"); the bridge writes
    them as strings in its Actions. Anything else (letters, NaN, infinity, a number too
    large to hold to the cent) is a shape error: a wrong amount is never read as none."""
    if _is_empty(value):
        return None
    if isinstance(value, bool) or not isinstance(value, str | _NUMERIC):
        raise EventShapeError(field, "an amount", value)
    try:
        found = Decimal(str(value).strip())
        if not found.is_finite():
            raise InvalidOperation
        return found.quantize(CENT)
    except InvalidOperation:
        raise EventShapeError(field, "an amount", value) from None


def day(value: Any) -> date | None:
    """A date as WHMCS writes it ("2026-11-10", or with a time after it); None for none,
    including WHMCS's "0000-00-00" for "never", and for anything that is not one."""
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
