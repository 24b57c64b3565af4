"""Row ids as a URL carries them: ASCII digits naming a value the id columns can hold.

Every table's id is `bridge.store.models.BigId`: BIGINT on PostgreSQL, INTEGER (the 64-bit rowid)
on SQLite, so 1 to 2^63 - 1. A larger number makes the database driver raise (SQLite's
"Python int too large", PostgreSQL's out-of-range errors) instead of finding nothing, so it is
refused here, before any query: an id in a route is a page that does not exist (404), an id in
a cursor a bad request (400).
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter, ValidationError

ID_MIN = 1
ID_MAX = 2**63 - 1
_MAX_DIGITS = len(str(ID_MAX))


class BadId(ValueError):
    """`text` is not an id (the message says why, without repeating the text)."""


def parse_id(text: str) -> int:
    """The id `text` names. Raises BadId unless it is ASCII digits in [ID_MIN, ID_MAX].

    Only ASCII digits: `str.isdigit` also accepts "²" (which int() refuses) and `int` also
    reads "٣", " 7" and "1_000", none of which a link the bridge made contains.
    """
    if not text or not text.isascii() or not text.isdigit():
        raise BadId("not an id (digits 0-9 only)")
    # The length first: int() of thousands of digits is slow, then refused by Python itself.
    value = int(text) if len(text.lstrip("0")) <= _MAX_DIGITS else None
    if value is None or not ID_MIN <= value <= ID_MAX:
        raise BadId(f"id out of range ({ID_MIN} to {ID_MAX})")
    return value


class IdConverter(BaseConverter):
    """`<id:name>` in a route: the id as an int, or no match (404) if parse_id refuses it."""

    regex = r"[0-9]+"
    weight = 50  # as werkzeug's own `int`
    part_isolating = True

    def to_python(self, value: str) -> int:
        try:
            return parse_id(value)
        except BadId:
            raise ValidationError() from None

    def to_url(self, value: Any) -> str:
        return str(int(value))
