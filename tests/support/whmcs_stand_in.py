"""WHMCS's API at the HTTP edge: answers `includes/api.php` from the recorded samples.

WHMCS is outside this machine, so it is faked where the bridge's requests leave it
(`responses`); everything on the bridge's side of that edge runs for real.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.helpers import SAMPLES

WHMCS_BASE = "https://whmcs.test"
API_URL = f"{WHMCS_BASE}/includes/api.php"
FIXTURES = Path(__file__).resolve().parents[1] / "php" / "fixtures" / "whmcs_api"
SETTINGS = {
    "WHMCS_API_URL": WHMCS_BASE,
    "WHMCS_API_IDENTIFIER": "bridge-identifier",
    "WHMCS_API_SECRET": "bridge-secret",
}
# One contact who takes invoice emails only (the recorded samples have no GetContacts answer).
CONTACTS = {
    "result": "success",
    "totalresults": 1,
    "contacts": {
        "contact": [
            {
                "id": 55,
                "userid": 1042,
                "firstname": "Martín",
                "lastname": "Paz",
                "email": "administracion@radioandina.example",
                "phonenumber": "0351 15 555-4321",
                "password": "$2y$10$hash-that-must-never-be-stored",
                "generalemails": "0",
                "invoiceemails": "1",
                "productemails": "0",
                "domainemails": "0",
            }
        ]
    },
}


# The shared samples have no GetInvoices answer: the client's one unpaid invoice.
UNPAID_INVOICES = {
    "result": "success",
    "totalresults": 1,
    "invoices": {
        "invoice": [{"id": 88231, "userid": 1042, "invoicenum": "A-0088231", "total": "18150.00", "status": "Unpaid"}]
    },
}


class WhmcsStandIn:
    """A `responses` callback; `answers` overrides what an action returns.

    Payments are kept: after AddInvoicePayment, GetInvoice shows the transaction and the
    invoice paid, as WHMCS would. So are accepted orders: after AcceptOrder, GetOrders shows
    the order Active, and a second AcceptOrder gets WHMCS's "not Pending" error."""

    def __init__(self, language: str = "spanish") -> None:
        self.language = language
        self.answers: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.payments: list[dict[str, str]] = []
        self.accepted_orders: list[str] = []
        self.down = False  # answer 503, as WHMCS behind a proxy during maintenance
        # action -> an HTTP status answered instead (an HTML error page; nothing is done)
        self.http_errors: dict[str, int] = {}

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        action = form["action"]
        self.calls.append((action, form))
        if self.down:
            return 503, {"Content-Type": "text/html"}, "<html>Service Unavailable</html>"
        if action in self.http_errors:
            return self.http_errors[action], {"Content-Type": "text/html"}, "<html>Internal Server Error</html>"
        answer = copy.deepcopy(self.answers.get(action) or self._sample(action))
        if action == "AcceptOrder" and answer.get("result") == "success":
            if form["orderid"] in self.accepted_orders:
                answer = {"result": "error", "message": "Order ID not found or Status not Pending"}
            else:
                self.accepted_orders.append(form["orderid"])
        if action == "GetOrders" and form.get("id") in self.accepted_orders:
            for order in answer.get("orders", {}).get("order", []):
                order["status"] = "Active"
        if action == "AddInvoicePayment" and answer.get("result") == "success":
            self.payments.append(form)  # a refused payment (an error answer) is not kept
        if action == "GetClientsDetails" and "client" in answer:
            answer["client"]["language"] = self.language
        if action == "GetInvoice" and self.payments:
            answer.update(status="Paid", balance="0.00")
            answer["transactions"] = {
                "transaction": [{"transid": p["transid"], "amountin": p["amount"]} for p in self.payments]
            }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    @staticmethod
    def _sample(action: str) -> dict[str, Any]:
        if action == "GetContacts":
            return CONTACTS
        if action == "GetInvoices":
            return UNPAID_INVOICES
        for folder in (SAMPLES / "whmcs_api", FIXTURES):
            path = folder / f"{action}.json"
            if path.exists():
                return json.loads(path.read_text())
        return {"result": "error", "message": f"the stand-in has no answer for {action}"}

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]
