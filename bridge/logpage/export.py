"""The filtered list as CSV or XLSX: one row per Action, recipients masked as on the page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from openpyxl import Workbook
from sqlalchemy.orm import Session

from bridge.logpage.masking import mask_recipient
from bridge.logpage.queries import client_name
from bridge.models import Action, Event

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
        mask_recipient(action.recipient),
        action.attempts,
        "yes" if action.dry_run else "no",
        action.provider_ref or "",
        action.last_error or "",
        action.updated_at.isoformat(),
    ]


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is prefixed with a quote (CSV injection).

    A masked phone number ("+54 9 …") stays as it is: "+" followed by a digit is a number.
    """
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "=@\t\r" or (value[0] in "+-" and not value[1:2].isdigit()):
        return "'" + value
    return value


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


def to_xlsx(data: Iterator[list[Any]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("actions")
    sheet.append(list(COLUMNS))
    for row in data:
        sheet.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
