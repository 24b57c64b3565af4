"""WHMCS's API (`includes/api.php`): one verb, `call(action, **params)`.

WHMCS answers most failures with HTTP 200 and `{"result": "error", "message": ...}`, so
the message decides: a missing record is `NotFound` (permanent: asking again will not
bring the client back), refused credentials are permanent, and an HTTP-level failure
(timeout, 5xx, an HTML maintenance page) is transient.
"""

from __future__ import annotations

from typing import Any

import requests

from providers.base import ProviderError, transient_http_status

NOT_FOUND_MESSAGES = ("not found", "invalid client id", "invalid invoice id", "invalid service id", "invalid quote id")


class NotFound(ProviderError):
    """The record asked for does not exist (any more)."""

    skip = True

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class WhmcsApi:
    channel = "whmcs"

    def __init__(
        self,
        *,
        url: str,
        identifier: str,
        secret: str,
        accesskey: str | None = None,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.endpoint = url if url.rstrip("/").endswith("api.php") else f"{url.rstrip('/')}/includes/api.php"
        self.identifier = identifier
        self.secret = secret
        self.accesskey = accesskey
        self.timeout = timeout
        self.session = session or requests.Session()

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        """Run one API action; the decoded answer on success, ProviderError otherwise."""
        form = {
            "action": action,
            "identifier": self.identifier,
            "secret": self.secret,
            "responsetype": "json",
            **{k: v for k, v in params.items() if v is not None},
        }
        if self.accesskey:
            form["accesskey"] = self.accesskey
        try:
            response = self.session.post(self.endpoint, data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ProviderError(f"WHMCS API unreachable: {type(exc).__name__}", permanent=False) from exc
        if response.status_code != 200:
            raise ProviderError(
                f"WHMCS API answered HTTP {response.status_code} to {action}",
                permanent=not transient_http_status(response.status_code),
                http_status=response.status_code,
            )
        try:
            answer = response.json()
        except ValueError:
            # A maintenance or proxy error page instead of JSON: worth another try later.
            raise ProviderError(
                f"WHMCS API answered {action} with something that is not JSON", permanent=False
            ) from None
        if not isinstance(answer, dict) or answer.get("result") != "success":
            message = str(answer.get("message", "no message")) if isinstance(answer, dict) else "unexpected answer"
            if any(words in message.lower() for words in NOT_FOUND_MESSAGES):
                raise NotFound(f"WHMCS {action}: {message}")
            raise ProviderError(f"WHMCS {action}: {message}", permanent=True, http_status=200)
        return answer
