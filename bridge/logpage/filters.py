"""The list's filters, read from and written back to the URL (so a link can be shared).

Unknown or malformed values are dropped rather than refused: a stale link still opens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.core.actions import CONSENT_CHANNEL, PLAN_CHANNEL, TICKET_CHANNEL
from bridge.core.states import State

# Who records events: the two webhooks, Twilio's receipts for unknown messages, the bridge itself.
# Channels no provider carries out: the planning, a hook's error, a recorded "nothing to do".
INTERNAL_CHANNELS = (PLAN_CHANNEL, "hook", "none", CONSENT_CHANNEL, TICKET_CHANNEL)


@dataclass(frozen=True)
class Filters:
    source: str = ""
    type: str = ""
    state: str = ""
    channel: str = ""
    client_id: str = ""
    since: str = ""  # YYYY-MM-DD, in the company's time zone, inclusive
    until: str = ""  # YYYY-MM-DD, inclusive
    q: str = ""  # the search box

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        values = {f.name: str(args.get(f.name, "")).strip()[:200] for f in fields(cls)}
        if values["state"] not in {s.value for s in State}:
            values["state"] = ""
        for name in ("since", "until"):
            if _parse_day(values[name]) is None:
                values[name] = ""
        return cls(**values)

    def to_args(self) -> dict[str, str]:
        """Only the filters set: the query string of a link to this view."""
        return {k: v for k, v in asdict(self).items() if v}

    @property
    def active(self) -> bool:
        return bool(self.to_args())

    def window(self, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """The date range as [start, end) instants: local midnights."""
        since, until = _parse_day(self.since), _parse_day(self.until)
        start = datetime.combine(since, time(), tz) if since else None
        end = datetime.combine(until + timedelta(days=1), time(), tz) if until else None
        return start, end


def _parse_day(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
