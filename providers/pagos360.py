"""Pagos360's REST API: read card adhesions and card debit requests, create a debit request.

What the shapes rest on:
- Paths, Bearer auth and hosts: Pagos360's developer pages
  (https://ayuda.pagos360.com/desarrolladores/cancela shows
  `https://api.sandbox.pagos360.com/card-debit-request/{id}/cancel` with `Authorization: Bearer`)
  and its own SDKs (github.com/pagos360/sdk-php: `card-adhesion`, `card-debit-request`,
  `adhesion`, `debit-request`, `payment-request`; GET `{uri}/{id}` answers 200, POST `{uri}`
  answers 201 with a body wrapped in the resource's block, `{"card_debit_request": {...}}`).
- Create fields `card_adhesion_id`, `month`, `year`, `amount`, `description`, `metadata`:
  the developer pages' attribute tables (amount "00000000.00": up to 8 integer digits and 2
  decimals) and integrations that call it (pagos360/sdk-.net `CardDebitRequest`).
- Answers to reads: the shared samples (testdata/samples/pagos360/api.*.json).
- Error answers: Pagos360 documents no error body. Its .NET SDK reads an `"errors": [...]` list
  and its PHP SDK maps 400/401/403 to exceptions, so the message is taken, in that order, from
  `message`, `errors` (a list, or a dict of field errors) or `error`, and the status decides
  whether a retry can help. 422 is treated like 400 on the assumption that it may be used.

Safety: the API key travels only in the Authorization header; it is never put in a message,
and any answer text that echoes it is scrubbed. Entity ids are checked to be positive integers
before they go into a path (they come from unsigned notifications).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import requests

from providers.base import ProviderError, SendResult, transient_http_status

# A notification's `entity_name` -> the API path that reads that entity back.
ENTITY_URIS = {
    "card_adhesion": "card-adhesion",
    "adhesion": "adhesion",
    "card_debit_request": "card-debit-request",
    "debit_request": "debit-request",
    "payment_request": "payment-request",
}
MAX_AMOUNT = Decimal("99999999.99")  # "hasta 8 enteros y 2 decimales"
CENT = Decimal("0.01")


class NotFound(ProviderError):
    """The entity asked for does not exist in Pagos360 (or not for this API key)."""

    skip = True

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True, http_status=404, code="not_found")


class Pagos360Api:
    """A small client for the card direct-debit part of Pagos360's API.

    Every method returns the decoded JSON object Pagos360 answered, or raises ProviderError:
    `permanent=False` for timeouts, connection errors, 5xx and 429 (with `retry_after` when
    given); `permanent=True` for a refused key (401/403, code "auth"), a refused request
    (400/422, code "validation", with Pagos360's message) and other 4xx; `NotFound` (skip) for 404.
    """

    channel = "pagos360"

    def __init__(
        self,
        api_key: str,
        base_url: str,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a Pagos360 API key is required")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def __repr__(self) -> str:
        return f"Pagos360Api(base_url={self.base_url!r})"

    def get(self, entity_uri: str, entity_id: int | str) -> dict[str, Any]:
        """Read one entity: `entity_uri` is a notification's entity name or the API path itself."""
        uri = ENTITY_URIS.get(entity_uri, entity_uri)
        if uri not in ENTITY_URIS.values():
            raise ProviderError(f"Pagos360 has no entity {entity_uri!r} to read", permanent=True, code="unknown_entity")
        return self._request("GET", f"{uri}/{_entity_id(entity_id)}")

    def get_card_adhesion(self, adhesion_id: int | str) -> dict[str, Any]:
        """A card adhesion: `state` is pending_to_sign, signed or canceled."""
        return self.get("card_adhesion", adhesion_id)

    def get_card_debit_request(self, request_id: int | str) -> dict[str, Any]:
        """A card debit request: `state` pending, in_process, paid, rejected, canceled, reverted, ..."""
        return self.get("card_debit_request", request_id)

    def create_card_debit_request(
        self,
        *,
        card_adhesion_id: int | str,
        amount: Decimal,
        month: int,
        year: int,
        description: str,
        metadata: dict[str, Any],
    ) -> dict[str, Any]:
        """Ask Pagos360 to debit `amount` from a signed card adhesion in `month`/`year`.

        Answers the new debit request (state "pending"). This moves money and Pagos360 offers no
        idempotency key: a transient error whose `code` is "outcome_unknown" (read timeout,
        dropped connection, 500/502/504) may have created the request, so the caller must look
        for it (by `metadata`) before trying again.
        """
        block = {
            "card_adhesion_id": _entity_id(card_adhesion_id),
            "month": _month(month),
            "year": int(year),
            "amount": _AMOUNT_SLOT,
            "description": description,
            "metadata": metadata,
        }
        body = _json_with_amount({"card_debit_request": block}, _amount(amount))
        return self._request("POST", "card-debit-request", body=body)

    # -- HTTP ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, body: bytes | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        what = f"Pagos360 {method} /{path}"
        try:
            response = self.session.request(
                method, f"{self.base_url}/{path}", data=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            # `from None`: the cause carries the prepared request, Authorization header included.
            unknown = method == "POST" and not isinstance(exc, requests.ConnectTimeout)
            raise ProviderError(
                self._scrub(f"{what} failed: {type(exc).__name__}: {exc}"),
                permanent=False,
                code="outcome_unknown" if unknown else None,
            ) from None
        if response.status_code >= 400:
            raise self._http_error(what, method, response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            # A proxy page or an empty body instead of the entity: worth another look later.
            raise ProviderError(
                f"{what} answered HTTP {response.status_code} with something that is not a JSON object",
                permanent=False,
                http_status=response.status_code,
                code="outcome_unknown" if method == "POST" else None,
            )
        return answer

    def _http_error(self, what: str, method: str, response: requests.Response) -> ProviderError:
        status = response.status_code
        message = self._scrub(f"{what} answered HTTP {status}: {_error_message(response)}")
        if status == 404:
            return NotFound(message)
        if status in (401, 403):
            return ProviderError(message, permanent=True, http_status=status, code="auth")
        if status in (400, 422):
            return ProviderError(message, permanent=True, http_status=status, code="validation")
        transient = transient_http_status(status)
        unknown = method == "POST" and status in (500, 502, 504)
        return ProviderError(
            message,
            permanent=not transient,
            http_status=status,
            code="outcome_unknown" if unknown else None,
            retry_after=_retry_after(response) if transient else None,
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***")


# -- values ----------------------------------------------------------------------------------

_AMOUNT_SLOT = "\x00amount\x00"  # replaced by the literal number: json cannot write 18150.00


def _json_with_amount(payload: dict[str, Any], amount: str) -> bytes:
    text = json.dumps(payload, ensure_ascii=False)
    return text.replace(json.dumps(_AMOUNT_SLOT), amount, 1).encode()


def _amount(amount: Decimal) -> str:
    """The amount as Pagos360 writes it (18150.00); refuse what it would round or reject."""
    value = Decimal(amount)
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT or value != value.quantize(CENT):
        raise ProviderError(
            f"amount {amount} is not a positive amount with at most 2 decimals", permanent=True, code="validation"
        )
    return f"{value.quantize(CENT):f}"


def _month(month: int) -> int:
    if not 1 <= int(month) <= 12:
        raise ProviderError(f"month {month} is not 1..12", permanent=True, code="validation")
    return int(month)


def _entity_id(value: int | str) -> int:
    """A positive integer id; anything else never reaches a URL."""
    text = str(value).strip()
    if not text.isdigit() or not text.isascii() or int(text) <= 0:
        raise ProviderError(f"{value!r} is not a Pagos360 id", permanent=True, code="validation")
    return int(text)


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return text[:200] or response.reason or "no message"
    if not isinstance(body, dict):
        return str(body)[:200]
    parts = [str(body["message"])] if body.get("message") else []
    errors = body.get("errors")
    if isinstance(errors, list):
        parts += [str(e) for e in errors]
    elif isinstance(errors, dict):
        parts += [f"{field}: {problem}" for field, problem in errors.items()]
    elif errors:
        parts.append(str(errors))
    if not parts and body.get("error"):
        parts.append(str(body["error"]))
    return ("; ".join(parts) or "no message")[:500]


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


class Pagos360Debits:
    """Asks Pagos360 to debit a card: the `pagos360_debit` Actions of the debit cycle.

    `recipient` is the card adhesion id; `content` holds amount, month, year,
    description and metadata. Creating a debit request moves money and Pagos360 takes
    no idempotency key, so an error after which the request may exist ("outcome
    unknown") is never retried by itself: the Action fails and says what to check.
    """

    channel = "pagos360_debit"
    rate_key = None
    per_second = None  # no shared send rate

    def __init__(self, api: Pagos360Api) -> None:
        self.api = api

    def send(self, recipient: str, content: dict[str, Any]) -> SendResult:
        try:
            created = self.api.create_card_debit_request(
                card_adhesion_id=recipient,
                amount=Decimal(str(content["amount"])),
                month=int(content["month"]),
                year=int(content["year"]),
                description=str(content["description"]),
                metadata=dict(content.get("metadata") or {}),
            )
        except ProviderError as exc:
            if exc.code != "outcome_unknown":
                raise
            invoice = (content.get("metadata") or {}).get("whmcs_invoice_id")
            raise ProviderError(
                f"{exc.message}; the debit request may exist: check Pagos360 for invoice {invoice} before retrying",
                permanent=True,
                http_status=exc.http_status,
                code="outcome_unknown",
            ) from None
        return SendResult(
            provider_ref=str(created.get("id", "")), http_status=201, detail={"state": created.get("state")}
        )
