"""The filtered list as CSV or XLSX: one row per Action, recipients masked as on the page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.orm import Session

from bridge.logpage.queries import client_name
from bridge.logpage.shown import shown_row
from bridge.store.models import Action, Event

COLUMNS = (
    "event_id",
    "received_at",
    "source",
    "event_type",
    "client_id",
    "client_name",
    "action_id",
    "channel",
    "state",
    "recipient",
    "attempts",
    "dry_run",
    "provider_ref",
    "last_error",
    "updated_at",
)
MAX_ROWS = 100_000  # an export is a report, not a backup


def rows(session: Session, query: Any) -> Iterator[list[Any]]:
    for action, event in session.execute(query.limit(MAX_ROWS).execution_options(yield_per=1000)):
        yield _row(action, event)


def _row(action: Action, event: Event) -> list[Any]:
    personal = shown_row(action)
    return [
        event.id,
        event.received_at.isoformat(),
        event.source,
        event.type,
        event.client_id or "",
        client_name(event.payload),
        action.id,
        action.channel,
        action.state,
        personal["recipient"],
        action.attempts,
        "yes" if action.dry_run else "no",
        action.provider_ref or "",
        personal["last_error"] or "",
        action.updated_at.isoformat(),
    ]


# OWASP's CSV injection rule: a cell that starts with one of these is read as a formula by
# Excel, LibreOffice or Google Sheets ("+1+cmd|' /C calc'!A0" as much as "=HYPERLINK(...)").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What a spreadsheet takes for a number and nothing else: left as it is, so that it sorts
# and sums ("-12.50"); "-1+1" is arithmetic, not a number, and gets quoted.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)")


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text, never runs (OWASP "CSV injection").

    Text starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`,
    which spreadsheets read as "this is text"; a plain number ("-12.50") is left alone.
    Other values (numbers, None) are not text and pass as they are.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def to_csv(data: Iterator[list[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in data:
        writer.writerow([safe_cell(v) for v in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """A cell whose text is stored as text: the file format types its cells, so nothing needs
    a quote, but openpyxl would store a string starting with `=` as a formula, and refuses
    control characters that XML 1.0 cannot carry (`\\x0b`): they are written as `\\x0b`."""
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value))
    cell.data_type = "s"  # text, whatever it starts with
    return cell


def to_xlsx(data: Iterator[list[Any]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("actions")
    sheet.append(list(COLUMNS))
    for row in data:
        sheet.append([xlsx_cell(sheet, v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
