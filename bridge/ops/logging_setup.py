"""Logging: one format for the whole bridge, and a filter that keeps personal data and
secrets out of every log line, whatever a provider's error message happens to quote.

Phone numbers keep their last two digits and emails their first letter and domain, so a
line is still useful to whoever reads it ("+54*********34", "l***@radioandina.example").
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# A + and 8 or more digits (spaces, dots and dashes between them allowed), or 10+ bare digits.
_PHONE = re.compile(r"\+\d[\d .-]{6,}\d|(?<![\w.])\d{10,15}(?![\w.])")
_SECRET = re.compile(r"(whsec_)[A-Za-z0-9+/=]+|(Bearer )\S+|((?:password|secret|token)=)[^&\s]+", re.IGNORECASE)


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    prefix = "+" if match.group().startswith("+") else ""
    return prefix + digits[:2] + "*" * max(len(digits) - 4, 1) + digits[-2:]


def scrub(text: str) -> str:
    text = _SECRET.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "[redacted]", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(_mask_phone, text)


class ScrubbingFilter(logging.Filter):
    """Rewrites each record's message (arguments included) through `scrub`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed record is logging's own problem to report
        cleaned = scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.msg, record.args = cleaned, None
        return True


# Structured fields the bridge passes with `extra=` (request and attempt lines).
FIELDS = ("event_id", "action_id", "channel", "outcome", "duration_ms", "http_status", "method", "route", "status")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors: time, level, logger, message, fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info or record.exc_text:
            line["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(log_format: str = "text") -> None:
    """Install the format (unless the host process already set one up: gunicorn, pytest)
    and the filter on every handler of the root logger. `json`: one JSON object a line."""
    root = logging.getLogger()
    if not root.handlers:
        handler: logging.Handler = logging.StreamHandler()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for handler in root.handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())
    # The Twilio library logs every request and response, headers included, at INFO:
    # half a dozen lines per message that the bridge's own attempt line already covers.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
