"""The stand-in for a provider that has no credentials: records, sends nothing."""

from __future__ import annotations

import uuid
from typing import Any

from providers.base import SendResult


class DryRun:
    """Accepts every send and returns exactly what would have been sent, marked dry run."""

    def __init__(self, channel: str, why: str) -> None:
        self.channel = channel
        self.why = why
        self.rate_key: str | None = None  # nothing leaves the machine: nothing to pace
        self.per_second: float | None = None

    def send(self, recipient: str, content: dict[str, Any]) -> SendResult:
        return SendResult(
            provider_ref=f"dry-run-{uuid.uuid4().hex[:16]}",
            dry_run=True,
            detail={"dry_run": True, "why": self.why, "would_send_to": recipient, "content": content},
        )
