"""What every provider shares: the one error type, the result of a send, the contract.

A provider does one thing (`send`) against one outside system. It never decides what
to send or to whom; it reports what happened, and whether trying again can help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(Exception):
    """A send that did not succeed.

    `permanent` says whether a retry can help: an invalid number or refused credentials
    stay wrong, a timeout or a 503 may not. `retry_after` (seconds) is the provider's own
    hint, when it gave one. `throttled`: the provider asked us to slow down (HTTP 429,
    Twilio 20429/63018, SMTP 4xx): the sender is paused for every worker and the try does
    not count against the Action's retries. `skip` marks a permanent error that is no fault (the record
    the Action was about no longer exists): the Action ends `skipped`, not `failed`.
    """

    skip = False

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        http_status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.throttled = throttled
        self.http_status = http_status
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        return f"{self.message}{code}"


@dataclass(frozen=True)
class SendResult:
    """A successful send: the provider's reference for it, and what was sent."""

    provider_ref: str
    http_status: int | None = None
    dry_run: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """One outside system, one verb. `content` is the Action's rendered content.

    `rate_key` names the sender whose rate is limited (shared by all workers), or None;
    `per_second` is that sender's send rate, declared by the provider itself (built from its
    own setting), or None: not paced. All are read-only here, so a provider may declare a
    narrower type (always a key, never one) as a plain attribute."""

    @property
    def channel(self) -> str: ...

    @property
    def rate_key(self) -> str | None: ...

    @property
    def per_second(self) -> float | None: ...

    def send(self, recipient: str, content: dict[str, Any]) -> SendResult: ...


def transient_http_status(status: int | None) -> bool:
    """Timeouts, throttling and server errors may pass; other 4xx will not."""
    return status is None or status in (408, 409, 425, 429) or status >= 500
