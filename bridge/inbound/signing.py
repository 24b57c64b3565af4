"""Sign a WHMCS event the way the PHP hook file does (Standard Webhooks), for the CLI and tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook


def signed_request(
    secret: str, event: str, params: dict[str, Any], webhook_id: str | None = None, timestamp: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a signed `{"event": ..., "params": ...}` post."""
    body = json.dumps({"event": event, "params": params}, ensure_ascii=False).encode()
    msg_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    when = timestamp or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }
    return body, headers
