"""WHMCS's API (`includes/api.php`): one verb, `call(action, **params)`.

WHMCS answers most failures with HTTP 200 and `{"result": "error", "message": ...}`, so
the message decides: a missing record is `NotFound` (permanent: asking again will not
bring the client back), refused credentials are permanent, and an HTTP-level failure
(timeout, 5xx, an HTML maintenance page) is transient.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from providers.base import ProviderError, SendResult, transient_http_status

# ProviderError.code of a call that may have been carried out by WHMCS although it failed.
OUTCOME_UNKNOWN = "outcome_unknown"
NOT_FOUND_MESSAGES = ("not found", "invalid client id", "invalid invoice id", "invalid service id", "invalid quote id")


def whmcs_rows(answer: dict[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
    """WHMCS wraps lists as {"quotes": {"quote": [...]}}, or "" when there are none."""
    block = answer.get(outer)
    rows = block.get(inner) if isinstance(block, dict) else None
    if isinstance(rows, dict):
        rows = [rows]
    return [row for row in rows or [] if isinstance(row, dict)]


class NotFound(ProviderError):
    """The record asked for does not exist (any more)."""

    skip = True

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class WhmcsApi:
    channel = "whmcs"
    rate_key = None
    per_second = None  # no shared send rate

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
            # Only a connection never made is sure not to have reached WHMCS.
            reached = not isinstance(exc, requests.ConnectTimeout)
            raise ProviderError(
                f"WHMCS API unreachable: {type(exc).__name__}",
                permanent=False,
                code=OUTCOME_UNKNOWN if reached else None,
            ) from exc
        if response.status_code != 200:
            raise ProviderError(
                f"WHMCS API answered HTTP {response.status_code} to {action}",
                permanent=not transient_http_status(response.status_code),
                http_status=response.status_code,
                code=OUTCOME_UNKNOWN if response.status_code in (500, 502, 504) else None,
            )
        try:
            answer = response.json()
        except ValueError:
            # A maintenance or proxy error page instead of JSON: worth another try later.
            # (Or a PHP warning printed before WHMCS's own answer: the call may have done its work.)
            raise ProviderError(
                f"WHMCS API answered {action} with something that is not JSON",
                permanent=False,
                code=OUTCOME_UNKNOWN,
            ) from None
        if not isinstance(answer, dict) or answer.get("result") != "success":
            message = str(answer.get("message", "no message")) if isinstance(answer, dict) else "unexpected answer"
            if any(words in message.lower() for words in NOT_FOUND_MESSAGES):
                raise NotFound(f"WHMCS {action}: {message}")
            raise ProviderError(f"WHMCS {action}: {message}", permanent=True, http_status=200)
        return answer


class WhmcsChanges:
    """Changes in WHMCS planned by the hooks: the `whmcs` Actions (e.g. UpdateClient).

    `content`: {"action": ..., "params": {...}}. A `customfields` param given as a dict
    ({field id: value}) is encoded the way WHMCS wants it: base64 of a PHP-serialized array.
    """

    channel = "whmcs"
    rate_key = None
    per_second = None  # no shared send rate

    def __init__(self, api: WhmcsApi) -> None:
        self.api = api

    def send(self, recipient: str, content: dict[str, Any]) -> SendResult:
        params = dict(content.get("params") or {})
        if isinstance(params.get("customfields"), dict):
            params["customfields"] = php_serialized_base64(params["customfields"])
        self.api.call(str(content["action"]), **params)
        return SendResult(provider_ref=f"{content['action']} {recipient}", http_status=200)


@dataclass(frozen=True)
class PayableInvoice:
    """What GetInvoice says about an invoice that a payment is about to be added to."""

    id: str
    number: str
    client_id: str
    status: str
    balance: Decimal | None
    transids: frozenset[str]  # the transaction ids already recorded on it


class WhmcsPayments:
    """The two WHMCS calls a `whmcs_payment` Action is made of: read the invoice, add a payment.

    This module only talks to WHMCS. Deciding whether a payment may be added (once, to the
    right invoice, for the right amount) is the bridge's (bridge.work.payments), which claims the
    payment in its database before `add` is ever called; so there is no `send` that would
    call AddInvoicePayment on its own.
    """

    channel = "whmcs_payment"
    rate_key = None
    per_second = None  # no shared send rate

    def __init__(self, api: WhmcsApi) -> None:
        self.api = api

    def invoice(self, invoice_id: str) -> PayableInvoice:
        answer = self.api.call("GetInvoice", invoiceid=invoice_id)
        transactions = answer.get("transactions")
        rows = transactions.get("transaction") if isinstance(transactions, dict) else None
        rows = [rows] if isinstance(rows, dict) else (rows or [])
        return PayableInvoice(
            id=str(answer.get("invoiceid") or invoice_id),
            number=str(answer.get("invoicenum") or invoice_id),
            client_id=str(answer.get("userid") or ""),
            status=str(answer.get("status") or ""),
            balance=_cents(answer.get("balance")),
            transids=frozenset(str(row.get("transid")) for row in rows if isinstance(row, dict)),
        )

    def add(self, *, invoice_id: str, transid: str, gateway: str, amount: str | None, date: str | None) -> None:
        """AddInvoicePayment. A ProviderError with code "outcome_unknown" means WHMCS may
        have recorded the payment all the same (no answer, a 5xx, an answer that is not JSON)."""
        self.api.call(
            "AddInvoicePayment", invoiceid=invoice_id, transid=transid, gateway=gateway, amount=amount, date=date
        )

    def send(self, recipient: str, content: dict[str, Any]) -> SendResult:
        raise ProviderError("a payment is added only through the bridge's payment claim", permanent=True)


class WhmcsOrders:
    """The two WHMCS calls a `whmcs_order` Action is made of: read an order's status, accept it.

    As with payments, deciding that an order is accepted once is the bridge's
    (bridge.work.orders claims the order in its database before `accept` is called)."""

    channel = "whmcs_order"
    rate_key = None
    per_second = None  # no shared send rate

    def __init__(self, api: WhmcsApi) -> None:
        self.api = api

    def status(self, order_id: str) -> str:
        """The order's status in WHMCS (Pending, Active, Cancelled, Fraud, ...); NotFound
        when there is no such order."""
        rows = whmcs_rows(self.api.call("GetOrders", id=order_id), "orders", "order")
        if not rows:
            raise NotFound(f"WHMCS GetOrders: order {order_id} not found")
        return str(rows[0].get("status") or "")

    def accept(self, order_id: str) -> None:
        """AcceptOrder with auto-setup: WHMCS's module provisions the services and WHMCS sends
        its welcome emails. "Order ID not found or Status not Pending" covers both a missing
        and an accepted order: `status` tells them apart."""
        self.api.call("AcceptOrder", orderid=order_id, autosetup="true", sendemail="true")

    def send(self, recipient: str, content: dict[str, Any]) -> SendResult:
        raise ProviderError("an order is accepted only through the bridge's order claim", permanent=True)


def _cents(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01")) if value not in (None, "") else None
    except InvalidOperation:
        return None


def php_serialized_base64(values: dict[Any, Any]) -> str:
    """base64(serialize($values)) for a flat array of strings, as WHMCS's UpdateClient takes
    custom fields. PHP counts string lengths in bytes, hence the encode."""
    parts = []
    for key, value in values.items():
        key_text = str(key)
        encoded_key = f"i:{int(key_text)};" if key_text.lstrip("-").isdigit() else _php_string(key_text)
        parts.append(encoded_key + _php_string(str(value)))
    return base64.b64encode(f"a:{len(values)}:{{{''.join(parts)}}}".encode()).decode()


def _php_string(text: str) -> str:
    return f's:{len(text.encode())}:"{text}";'
