"""What the bridge accepts from outside: one parse and one clean for every inbound body.

Every inbound endpoint that stores what it receives (WHMCS hooks, Pagos360 notifications,
Twilio receipts) goes through here before anything is written, so that a body which a
signature vouches for but PostgreSQL, the JSON encoder or the planner cannot hold is
refused at the door with the reason (`InboundRefused`, answered 400 by the webhooks),
never stored half-way and never a 500:

- JSON is parsed strictly: `NaN`, `Infinity` and numbers that overflow a float are refused
  (they are not JSON, and PostgreSQL's json type rejects them); an integer literal longer
  than `MAX_INTEGER_DIGITS` is refused (far above any id or amount, far below the
  4,300 digits beyond which Python refuses to convert it at all).
- Nesting deeper than `MAX_DEPTH` is refused: WHMCS's deepest hook nests four levels, and
  the bridge walks payloads recursively (redaction, search words, masking).
- A lone UTF-16 surrogate (`"\\ud800"`) is refused: it cannot be encoded as UTF-8, so no
  database can store it, and there is no character it could be cleaned to.
- NUL characters are removed from values: PostgreSQL's text cannot hold them, they are
  never part of what a person typed or reads (a name, an address), and refusing them would
  lose a real event. In a key (always a name a program chose) a NUL is refused instead:
  removing it could silently merge two keys.
- The event's identifiers must fit their columns, and hold no NUL or surrogate: the outbox
  checks them before it writes (`bridge.store.outbox.check_storable`, lengths read from the
  Event model). An id is refused, not cleaned, because a cleaned id would name another event.
"""

from __future__ import annotations

import json
import math
from typing import Any

from bridge.core.event_fields import LONE_SURROGATE
from bridge.core.events import InboundRefused

MAX_DEPTH = 32
MAX_INTEGER_DIGITS = 64


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a cleaned JSON object (see the module's docstring), or InboundRefused."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InboundRefused(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        # The parser's own guard against very deep nesting; caught here so that nothing
        # logs the thousand frames that led to it.
        raise InboundRefused(f"body is nested more than {MAX_DEPTH} levels deep") from None
    if not isinstance(data, dict):
        raise InboundRefused("body must be a JSON object")
    return clean(data)


def clean(value: Any) -> Any:
    """A copy of a parsed body (JSON values, or a form's dict of strings) fit to store:
    NUL removed from strings; InboundRefused for NUL in a key, a lone surrogate anywhere,
    or nesting deeper than MAX_DEPTH."""
    return _clean(value, "", 0)


def _clean(value: Any, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise InboundRefused(f"body is nested more than {MAX_DEPTH} levels deep", field=path or None)
    if isinstance(value, str):
        return _clean_text(value, path)
    if isinstance(value, dict):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                raise InboundRefused(f"key {_shown(key)} holds a NUL character", field=_shown(where))
            _clean_text(str(key), where)
            cleaned[key] = _clean(item, where, depth + 1)
        return cleaned
    if isinstance(value, list):
        return [_clean(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    return value


def _clean_text(text: str, path: str) -> str:
    surrogate = LONE_SURROGATE.search(text)
    if surrogate:
        code = f"\\u{ord(surrogate.group()):04x}"
        raise InboundRefused(f"{_shown(path) or 'body'}: lone surrogate {code} is not a character", field=_shown(path))
    return text.replace("\x00", "") if "\x00" in text else text


def _refuse_constant(name: str) -> Any:
    raise InboundRefused(f"{name} is not a JSON number (NaN and Infinity are refused)")


def _bounded_int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise InboundRefused(f"an integer of {digits} digits; at most {MAX_INTEGER_DIGITS} are accepted")
    return int(literal)


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise InboundRefused(f"number {_shown(literal)} is out of range")
    return number


def _shown(text: str, limit: int = 80) -> str:
    """Text fit for an error message and a log line: shortened, NUL and lone surrogates
    shown as escapes (a log handler cannot encode a surrogate)."""
    text = text.replace("\x00", "\\0").encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"
