"""Real local HTTP servers standing in for Twilio's Messages API and WHMCS's API.

Both run in threads of the test process and are reached by the bridge's worker
processes over TCP, so every byte the bridge sends crosses a real socket. Each one
records what it received and has the fault switches the fault suite turns on.

Twilio: every request is recorded; one that is accepted gets 201 and a unique sid.
With `faulty` set, a seeded 20 % of requests answer 500 (code 20500), 429 (code 20429),
or hang past the client's timeout. A request that hangs or is refused creates no
message: only 201 answers count as deliveries.

WHMCS: `includes/api.php` answered from testdata/samples/whmcs_api, one client per
client id (a phone number and email derived from the id, so every event of the load has
its own recipients), invoices and quotes owned by the clients the test registers, and
AddInvoicePayment kept: a later GetInvoice shows the payment and the invoice paid.
Orders the test registers (`orders`, order id -> client id) have one hosting service each
(GetOrders, GetClientsProducts) and are accepted once: AcceptOrder is recorded with its
time, and GetOrders shows the order Active after it. With `delay_s` set, every API answer
leaves that much later (what a loaded WHMCS takes). With `down` set, every call answers 503
with an HTML page, as WHMCS behind a proxy does during maintenance.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.helpers import load_sample
from tests.support.whmcs_stand_in import CONTACTS, WhmcsStandIn

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "fault-suite-token"
WHMCS_IDENTIFIER = "fault-identifier"
WHMCS_SECRET = "fault-secret"
FIRST_LOCAL_NUMBER = 4000000  # 0351 15 400-0000: Córdoba mobiles, one per client

# What a handler answers: (status, headers, body).
Answer = tuple[int, dict[str, str], bytes]


def client_phone(client_id: int) -> str:
    """The phone number WHMCS holds for a client, as a customer would type it."""
    return f"0351 15 {FIRST_LOCAL_NUMBER + client_id % 1_000_000:07d}"


def client_whatsapp(client_id: int) -> str:
    """The same number as the bridge sends it (E.164, Argentine mobile form)."""
    return f"+549351{FIRST_LOCAL_NUMBER + client_id % 1_000_000:07d}"


def order_service_id(order_id: int) -> int:
    """The one service (hosting) a registered order sets up: its line's relid in GetOrders."""
    return 10_000_000 + order_id


def order_invoice_id(order_id: int) -> int:
    """The invoice of a registered order (the one whose payment fires OrderPaid)."""
    return 20_000_000 + order_id


def client_email(client_id: int) -> str:
    return f"cliente{client_id}@fault.example"


def contact_email(client_id: int) -> str:
    return f"administracion{client_id}@fault.example"


@contextmanager
def serve(handle: Callable[[str, str, dict[str, str], bytes], Answer | None]) -> Iterator[str]:
    """Serve `handle(method, path, headers, body)` on 127.0.0.1; yields the base URL.

    `handle` returning None means: close the connection without an answer."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = handle(self.command, self.path, headers, raw)
            try:
                if answer is None:
                    self.close_connection = True
                    return
                status, extra, payload = answer
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nothing to answer to

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _json(status: int, body: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


# -- Twilio ------------------------------------------------------------------------------


@dataclass
class TwilioRequest:
    to: str
    body: str
    outcome: str  # "accepted", "500", "429", "hang"
    sid: str | None
    at: float


@dataclass
class TwilioStandIn:
    """POST /2010-04-01/Accounts/{sid}/Messages.json, as Twilio answers it."""

    hang_seconds: float = 2.0
    fault_rate: float = 0.2
    seed: int = 0
    faulty: bool = False
    requests: list[TwilioRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)
    _after_next_accept: Callable[[TwilioRequest], None] | None = None

    def after_next_accept(self, callback: Callable[[TwilioRequest], None]) -> None:
        """Call `callback` once, after the next message is accepted and before the answer
        leaves: the moment a crash makes a duplicate possible (Twilio has the message, the
        bridge never hears so)."""
        with self._lock:
            self._after_next_accept = callback

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        if method != "POST" or path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
            return _json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        with self._lock:
            fault = None
            if self.faulty and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(("500", "429", "hang"))
            sid = None if fault else "SM" + uuid.uuid4().hex
            to, body = form.get("To", ""), form.get("Body", "")
            request = TwilioRequest(to, body, fault or "accepted", sid, time.time())
            self.requests.append(request)
            callback = None
            if not fault:
                callback, self._after_next_accept = self._after_next_accept, None
        if callback is not None:
            callback(request)
        if fault == "500":
            return _json(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
        if fault == "429":
            return _json(429, load_sample("twilio", "error.20429"))
        if fault == "hang":
            time.sleep(self.hang_seconds)  # past the client's timeout: it has gone
            return None
        return _json(
            201,
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
            },
        )

    def accepted(self) -> list[TwilioRequest]:
        with self._lock:
            return [r for r in self.requests if r.outcome == "accepted"]

    def outcomes(self) -> dict[str, int]:
        with self._lock:
            found: dict[str, int] = {}
            for r in self.requests:
                found[r.outcome] = found.get(r.outcome, 0) + 1
            return found


# -- WHMCS -------------------------------------------------------------------------------


@dataclass
class WhmcsApiStandIn:
    """POST /includes/api.php, answered per record id from the recorded samples."""

    down: bool = False
    invoice_owner: dict[int, int] = field(default_factory=dict)
    quote_owner: dict[int, int] = field(default_factory=dict)
    payments: list[dict[str, str]] = field(default_factory=list)
    orders: dict[int, int] = field(default_factory=dict)  # order id -> client id
    # order id -> time.time() of its first AcceptOrder; every AcceptOrder, repeats too
    accepted_orders: dict[int, float] = field(default_factory=dict)
    accept_calls: list[tuple[int, float]] = field(default_factory=list)
    delay_s: float = 0.0  # slept before every answer
    calls: int = 0
    refused_while_down: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        if method != "POST" or path != "/includes/api.php":
            return 404, {"Content-Type": "text/html"}, b"<html>Not Found</html>"
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        with self._lock:
            self.calls += 1
            if self.down:
                self.refused_while_down += 1
                return 503, {"Content-Type": "text/html"}, b"<html>Service Unavailable</html>"
        if form.get("identifier") != WHMCS_IDENTIFIER or form.get("secret") != WHMCS_SECRET:
            answer = load_sample("whmcs_api", "error.auth")
        else:
            answer = self._answer(form.get("action", ""), form)
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        return _json(200, answer)

    def _answer(self, action: str, form: dict[str, str]) -> dict[str, Any]:
        if action == "GetClientsDetails":
            client_id = int(form["clientid"])
            answer = load_sample("whmcs_api", "GetClientsDetails")
            answer["userid"] = client_id
            answer["client"].update(
                id=client_id,
                userid=client_id,
                email=client_email(client_id),
                phonenumber=client_phone(client_id),
                phonenumberformatted="",
                telephoneNumber="",
            )
            return answer
        if action == "GetContacts":
            client_id = int(form["userid"])
            answer = copy.deepcopy(CONTACTS)
            answer["contacts"]["contact"][0].update(userid=client_id, email=contact_email(client_id))
            return answer
        if action == "GetInvoice":
            return self._invoice(int(form["invoiceid"]))
        if action == "GetQuotes":
            quote_id = int(form["quoteid"])
            answer = load_sample("whmcs_api", "GetQuotes")
            answer["quotes"]["quote"][0].update(id=quote_id, userid=self.quote_owner.get(quote_id, 1042))
            return answer
        if action == "AddInvoicePayment":
            with self._lock:
                self.payments.append(form)
        if action == "AcceptOrder":
            return self._accept_order(form)
        if action == "GetOrders":
            return self._order(form)
        if action == "GetClientsProducts" and _int(form.get("clientid")) in set(self.orders.values()):
            return self._order_products(int(form["clientid"]))
        return copy.deepcopy(WhmcsStandIn._sample(action))

    def _accept_order(self, form: dict[str, str]) -> dict[str, Any]:
        """Accepted once; a second AcceptOrder gets WHMCS's "not Pending" error."""
        order_id = _int(form.get("orderid"))
        with self._lock:
            now = time.time()
            self.accept_calls.append((order_id, now))
            if order_id in self.accepted_orders:
                return load_sample("whmcs_api", "error.accept_order_not_pending")
            self.accepted_orders[order_id] = now
        return {"result": "success"}

    def _order(self, form: dict[str, str]) -> dict[str, Any]:
        """A registered order: its own numbers and one hosting line; Active once accepted.
        Any other id: the recorded sample, as before."""
        order_id = _int(form.get("id"))
        with self._lock:
            status = "Active" if order_id in self.accepted_orders else "Pending"
        answer = copy.deepcopy(WhmcsStandIn._sample("GetOrders"))
        client_id = self.orders.get(order_id)
        if client_id is None:
            if status == "Active":
                for order in answer.get("orders", {}).get("order", []):
                    order["status"] = "Active"
            return answer
        order = answer["orders"]["order"][0]
        line = order["lineitems"]["lineitem"][0]
        order.update(
            id=order_id,
            ordernum=5_800_000_000 + order_id,
            userid=client_id,
            invoiceid=order_invoice_id(order_id),
            name=f"Cliente {client_id}",
            status=status,
        )
        line.update(relid=order_service_id(order_id), domain=f"orden{order_id}.example", status=status)
        order["lineitems"]["lineitem"] = [line]
        return answer

    def _order_products(self, client_id: int) -> dict[str, Any]:
        """The client's services: one hosting (pid 7, group Hosting) per order of theirs."""
        answer = load_sample("whmcs_api", "GetClientsProducts")
        template = answer["products"]["product"][0]
        products = [
            {
                **template,
                "id": order_service_id(order_id),
                "clientid": client_id,
                "pid": 7,
                "name": "Hosting Emprendedor",
                "groupname": "Hosting",
                "domain": f"orden{order_id}.example",
                "status": "Pending",
            }
            for order_id, owner in list(self.orders.items())
            if owner == client_id
        ]
        answer.update(clientid=str(client_id), totalresults=len(products), numreturned=len(products))
        answer.pop("serviceid", None)
        answer["products"]["product"] = products
        return answer

    def _invoice(self, invoice_id: int) -> dict[str, Any]:
        answer = load_sample("whmcs_api", "GetInvoice")
        answer.update(
            invoiceid=str(invoice_id),
            invoicenum=f"A-{invoice_id}",
            userid=str(self.invoice_owner.get(invoice_id, 1042)),
        )
        with self._lock:
            paid = [p for p in self.payments if p.get("invoiceid") == str(invoice_id)]
        if paid:
            answer.update(status="Paid", balance="0.00", datepaid=paid[0].get("date") or "")
            answer["transactions"] = {
                "transaction": [{"transid": p["transid"], "amountin": p.get("amount")} for p in paid]
            }
        return answer

    def added_transids(self) -> list[str]:
        with self._lock:
            return [p["transid"] for p in self.payments]

    def accepted(self) -> dict[int, float]:
        """Order id -> when its first AcceptOrder arrived (epoch seconds)."""
        with self._lock:
            return dict(self.accepted_orders)

    def accept_order_calls(self) -> list[tuple[int, float]]:
        """Every AcceptOrder received, repeats included: (order id, epoch seconds)."""
        with self._lock:
            return list(self.accept_calls)


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1
