"""Twilio's Messages API at the HTTP edge, each request checked by Prism against Twilio's own
description (testdata/twilio/twilio_api_v2010.json) and answered with a sid of its own, so
that a delivery receipt names one message (Prism's example gives every message the same sid)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.support.checked_stand_in import CheckedStandIn

_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json$")


@dataclass
class MessagesStandIn(CheckedStandIn):
    """What was sent, in order: the form of each accepted message, with its sid."""

    sent: list[dict[str, str]] = field(default_factory=list)

    def from_state(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        account = _MESSAGES.match(path)
        if method != "POST" or account is None:
            return 404, {"code": 20404, "message": f"no {method} {path} in this stand-in", "status": 404}
        sid = f"SM{len(self.sent) + 1:032x}"
        self.sent.append({**body, "sid": sid})
        return 201, {
            "sid": sid,
            "account_sid": account.group(1),
            "to": body.get("To"),
            "from": body.get("From"),
            "body": body.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
        }

    def to(self, address: str) -> list[dict[str, str]]:
        return [message for message in self.sent if message.get("To") == address]
