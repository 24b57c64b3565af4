"""Tests of the WHMCS hook file (whmcs/includes/hooks/whatsapp_bridge.php).

Each test runs the real PHP file through tests/php/harness.php (a CLI stand-in
for WHMCS) against a small HTTP receiver on 127.0.0.1 that checks signatures
with the `standardwebhooks` package, the same check the bridge makes.

Needs `php` with the curl extension (Debian: apt-get install php-cli php-curl)
and the shared samples in <repo>/testdata/samples (copied from the project's shared folder).
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import stat
import subprocess
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from tests.php.panel import API_SAMPLES, HOOK_FILE, HOOK_SAMPLES, SAMPLES, Panel

DEFAULT_EVENTS = [
    "ClientAdd",
    "ClientChangePassword",
    "ClientEdit",
    "InvoiceCreated",
    "InvoiceCancelled",
    "InvoicePaid",
    "AfterModuleSuspend",
    "AfterModuleUnsuspend",
    "AfterModuleTerminate",
    "QuoteCreated",
    "DomainDelete",
    "TicketAdminReply",
    "TicketOpen",
    "TicketUserReply",
    "OrderPaid",
    "CancelOrder",
    "AfterModuleCreate",
    "AfterModuleCreateFailed",
    "AcceptQuote",
    "QuoteStatusChange",
    "CancellationRequest",
    "UserChangePassword",
    "InvoicePaymentReminder",
]
ALL_EVENTS = [*DEFAULT_EVENTS, "InvoiceCreation"]
# Hooks the file answers instead of forwarding (tests/php/test_never_suspend.py): with the
# default settings EmailPreSend is hooked (abort_reminder_emails is on), PreModuleSuspend is not
# (it needs debit_group_id, 0 by default).
ANSWERED_BY_DEFAULT = {"EmailPreSend"}

# The contract: what may leave the panel, per hook (mirrors the PHP allow-lists).
CLIENT = {
    "userid",
    "client_id",
    "user_id",
    "firstname",
    "lastname",
    "companyname",
    "email",
    "phonenumber",
    "phonecc",
    "country",
    "countrycode",
    "language",
    "status",
    "groupid",
    "currency",
}
INVOICE = {"invoiceid", "invoicenum", "userid", "status", "source", "user", "total", "duedate", "paymentmethod"}
SERVICE: dict = dict.fromkeys(
    {
        "serviceid",
        "accountid",
        "userid",
        "pid",
        "domain",
        "producttype",
        "moduletype",
        "suspendreason",
        "status",
        "productname",
        "groupname",
    },
    True,
)
SERVICE["clientsdetails"] = dict.fromkeys(
    {
        "userid",
        "id",
        "firstname",
        "lastname",
        "companyname",
        "email",
        "phonenumber",
        "phonecc",
        "countrycode",
        "country",
        "language",
        "groupid",
        "status",
    },
    True,
)
MODULE = {**SERVICE, "params": SERVICE}
ALLOW = {
    "ClientAdd": dict.fromkeys(CLIENT | {"emailoptout", "marketing_emails_opt_in"}, True),
    "ClientChangePassword": dict.fromkeys({"userid", "user_id", "client_id"}, True),
    "ClientEdit": {**dict.fromkeys(CLIENT | {"email_verified"}, True), "olddata": dict.fromkeys(CLIENT, True)},
    "InvoiceCreation": dict.fromkeys(INVOICE, True),
    "InvoiceCreated": dict.fromkeys(INVOICE, True),
    "InvoiceCancelled": dict.fromkeys(INVOICE, True),
    "InvoicePaid": dict.fromkeys(INVOICE, True),
    "AfterModuleSuspend": MODULE,
    "AfterModuleUnsuspend": MODULE,
    "AfterModuleTerminate": MODULE,
    "QuoteCreated": dict.fromkeys({"quoteid", "userid", "status", "stage", "subject", "total", "validuntil"}, True),
    "DomainDelete": dict.fromkeys({"domainid", "userid", "domain"}, True),
    "TicketAdminReply": dict.fromkeys(
        {"ticketid", "replyid", "deptid", "deptname", "subject", "message", "priority", "admin", "status"}, True
    ),
    "TicketOpen": dict.fromkeys(
        {"ticketid", "ticketmask", "userid", "deptid", "deptname", "subject", "message", "priority"}, True
    ),
    "TicketUserReply": dict.fromkeys(
        {"ticketid", "replyid", "userid", "deptid", "deptname", "subject", "message", "priority", "status"}, True
    ),
    "OrderPaid": dict.fromkeys({"orderId", "userId", "invoiceId"}, True),  # camelCase, as WHMCS sends them
    "CancelOrder": dict.fromkeys({"orderid"}, True),
    "AfterModuleCreate": MODULE,
    "AfterModuleCreateFailed": {**MODULE, "failureResponseMessage": True},
    "AcceptQuote": dict.fromkeys({"quoteid", "invoiceid"}, True),
    "QuoteStatusChange": dict.fromkeys({"quoteid", "status"}, True),
    "CancellationRequest": dict.fromkeys({"userid", "relid", "reason", "type"}, True),
    "UserChangePassword": dict.fromkeys({"userid"}, True),  # never its password
    "InvoicePaymentReminder": dict.fromkeys({"invoiceid", "type"}, True),
}
# Credentials: neither the key nor its value may appear anywhere in what is sent.
SECRET_KEYS = {
    "password",
    "password2",
    "serverpassword",
    "serverusername",
    "serveraccesshash",
    "accesshash",
    "cardnum",
    "ccnumber",
    "cardnumber",
    "cvv",
    "cccvv",
    "cardcvv",
}
# Also never forwarded (by key); their values may legitimately recur elsewhere
# (the cPanel username "radioand" is a prefix of the domain "radioandina.example").
NEVER_SENT_KEYS = SECRET_KEYS | {"username", "tax_id", "serverip", "serverhostname"}
WEBHOOK_ID = re.compile(r"^whmcs_[0-9a-f]{24}$")


# --------------------------------------------------------------------------
# Preconditions: fail loudly, never skip.
# --------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def php_available():
    if shutil.which("php") is None:
        pytest.fail("php not found: install it with `apt-get install php-cli php-curl` (Debian)")
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout.lower().split()
    if "curl" not in modules:
        pytest.fail("php has no curl extension: `apt-get install php-curl` (Debian)")
    if not HOOK_SAMPLES.is_dir() or not API_SAMPLES.is_dir():
        pytest.fail(f"shared samples not found at {SAMPLES} (expected testdata/samples in the repo)")


# --------------------------------------------------------------------------
# Receiver: a bridge stand-in that verifies and records.
# --------------------------------------------------------------------------


class Receiver:
    def __init__(self, secret: str):
        self.webhook = Webhook(secret)
        self.requests: list[dict] = []
        self.status = 204
        # status_for(body) -> status, when it depends on the event (a poison body)
        self.status_for = None
        self.clock_offset = 0  # seconds added to the Date header (a bridge whose clock is off)
        self.delay = 0.0
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = {"path": self.path, "headers": headers, "body": body, "verified": False, "error": ""}
                try:
                    record["payload"] = receiver.webhook.verify(body, headers)
                    record["verified"] = True
                except Exception as exc:  # record, the test asserts on it
                    record["error"] = repr(exc)
                receiver.requests.append(record)
                if receiver.delay:
                    receiver.release.wait(receiver.delay)
                status = receiver.status_for(body) if receiver.status_for else receiver.status
                # Like the bridge: a refusal says why in {"error": ...}
                answer = b"" if status < 300 else json.dumps({"error": f"stand-in says {status}"}).encode()
                try:
                    self.send_response_only(status)
                    self.send_header("Date", formatdate(time.time() + receiver.clock_offset, usegmt=True))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# Panel: runs the hook file through the harness.
# --------------------------------------------------------------------------


@pytest.fixture
def panel(tmp_path):
    return Panel(tmp_path)


@pytest.fixture
def receiver(panel):
    r = Receiver(panel.secret)
    yield r
    r.close()


@pytest.fixture
def bridge(panel, receiver):
    """A panel pointed at a live receiver."""
    panel.url = receiver.url
    return panel


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def load_sample(hook: str) -> dict:
    return json.loads((HOOK_SAMPLES / f"{hook}.json").read_text())


def allowed(data, spec: dict) -> dict:
    """Python mirror of the PHP filter: the expected forwarded params."""
    out = {}
    for key, rule in spec.items():
        if key not in data:
            continue
        value = data[key]
        if isinstance(rule, dict):
            nested = allowed(value, rule) if isinstance(value, dict) else {}
            if nested:
                out[key] = nested
        elif value is None or isinstance(value, (str, int, float, bool)):
            out[key] = value
    return out


def secret_values(data) -> set[str]:
    found = set()
    if isinstance(data, dict):
        for k, v in data.items():
            if k.lower() in SECRET_KEYS and isinstance(v, str) and len(v) >= 4:
                found.add(v)
            found |= secret_values(v)
    elif isinstance(data, list):
        for v in data:
            found |= secret_values(v)
    return found


def all_keys(data) -> set[str]:
    keys = set()
    if isinstance(data, dict):
        for k, v in data.items():
            keys.add(k.lower())
            keys |= all_keys(v)
    elif isinstance(data, list):
        for v in data:
            keys |= all_keys(v)
    return keys


def assert_signed_post(req: dict, event: str) -> dict:
    assert req["verified"], req["error"]
    assert req["path"] == "/webhooks/whmcs"
    assert req["headers"]["content-type"] == "application/json"
    assert WEBHOOK_ID.match(req["headers"]["webhook-id"]), req["headers"]["webhook-id"]
    assert abs(int(req["headers"]["webhook-timestamp"]) - time.time()) < 60
    assert req["headers"]["webhook-signature"].startswith("v1,")
    payload = json.loads(req["body"])
    assert set(payload) == {"event", "params"}
    assert payload["event"] == event
    assert isinstance(payload["params"], dict)
    return payload


# --------------------------------------------------------------------------
# Registration and the one-POST-per-sample contract
# --------------------------------------------------------------------------


def test_registers_default_hooks_and_cron(panel):
    report = panel.run("AfterCronJob")
    assert set(report["registered"]) == set(DEFAULT_EVENTS) | {"AfterCronJob"} | ANSWERED_BY_DEFAULT
    assert "InvoiceCreation" not in report["registered"]
    assert "PreModuleSuspend" not in report["registered"]
    assert report["callbacks_run"] == 1
    assert report["activity_log"] == []


def recorded_samples(hook: str) -> list[str]:
    """The recorded samples of a hook: <hook>.json, or its variants <hook>.<variant>.json
    (InvoicePaymentReminder.firstoverdue.json)."""
    return sorted(p.stem for p in [*HOOK_SAMPLES.glob(f"{hook}.json"), *HOOK_SAMPLES.glob(f"{hook}.*.json")])


# Every event the hook file can send, with each of its recorded samples (the samples folder also
# holds hooks the bridge does not handle yet: those are not posted, so not tested here).
SAMPLE_HOOKS = [(hook, sample) for hook in sorted(ALL_EVENTS) for sample in recorded_samples(hook)]


def test_every_handled_event_has_a_recorded_sample():
    missing = [hook for hook in ALL_EVENTS if not recorded_samples(hook)]
    assert missing == []
    assert recorded_samples("InvoicePaymentReminder") == [
        f"InvoicePaymentReminder.{kind}" for kind in ("firstoverdue", "reminder", "secondoverdue", "thirdoverdue")
    ]


# The credentials the recorded samples carry: the secret check below must find them (by key), or
# it would pass without checking anything.
KNOWN_SECRETS = {
    "UserChangePassword": {"Nuev4-clave-plain"},
    "AfterModuleCreate": {"Gm-svc-plain-pass", "server-root-password", "WHM-ACCESS-HASH"},
    "AfterModuleCreateFailed": {"Pr-svc-plain-pass", "server-root-password", "WHM-ACCESS-HASH"},
    "AfterModuleSuspend": {"svc-plain-password", "server-root-password", "WHM-ACCESS-HASH"},
    "ClientChangePassword": {"N3w-plain-password"},
}


def test_the_secret_check_finds_the_credentials_of_the_samples():
    assert {hook: secret_values(load_sample(hook)) & known for hook, known in KNOWN_SECRETS.items()} == KNOWN_SECRETS


@pytest.mark.parametrize(("hook", "sample_name"), SAMPLE_HOOKS, ids=[sample for _, sample in SAMPLE_HOOKS])
def test_each_sample_is_one_signed_post_without_secrets(bridge, receiver, hook, sample_name):
    sample = load_sample(sample_name)
    report = bridge.run(hook, sample_name, WHATSAPP_BRIDGE_EVENTS=",".join(ALL_EVENTS))

    assert report["callbacks_run"] == 1
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    payload = assert_signed_post(req, hook)

    # exactly the allow-listed fields, values untouched (plus enrichment)
    expected = allowed(sample, ALLOW[hook])
    if hook == "DomainDelete":
        expected["domain"] = "radioandina.example"
    if hook == "AfterModuleTerminate":
        expected["params"].update(productname="Radio Streaming Pro", groupname="Streaming")
    assert payload["params"] == expected

    # nothing secret, by value or by key name
    for value in secret_values(sample):
        assert value not in req["body"], f"{value!r} left the panel"
    assert not all_keys(payload) & NEVER_SENT_KEYS
    if "Lucía" in json.dumps(sample, ensure_ascii=False):
        assert "Lucía" in req["body"]  # UTF-8 as is, not \u escapes

    assert report["activity_log"] == []
    assert panel_spool_empty(bridge)
    assert report["duration_ms"] < 1000


def panel_spool_empty(panel: Panel) -> bool:
    return panel.spooled() == []


def test_invoice_creation_is_off_by_default(bridge, receiver):
    report = bridge.run("InvoiceCreation", "InvoiceCreation")
    assert report["callbacks_run"] == 0
    assert receiver.requests == []


def test_invoice_payment_reminder_forwards_only_the_invoice_id_and_the_type(bridge, receiver):
    # On by default; anything else a WHMCS version or a module adds stays in the panel.
    params = {**load_sample("InvoicePaymentReminder.secondoverdue"), "userid": 1042, "total": "18150.00"}
    params["invoice"] = {"id": 88231, "notes": "[pagos360:rejected]"}
    report = bridge.run("InvoicePaymentReminder", params)
    assert report["callbacks_run"] == 1
    payload = assert_signed_post(receiver.requests[0], "InvoicePaymentReminder")
    assert payload["params"] == {"invoiceid": 88231, "type": "secondoverdue"}
    assert report["localapi_calls"] == [] and report["activity_log"] == []


def test_webhook_ids_differ_per_event(bridge, receiver):
    bridge.run("InvoicePaid", "InvoicePaid")
    bridge.run("InvoicePaid", "InvoicePaid")
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_hook_tolerates_odd_params(bridge, receiver):
    # numbers as strings, nested arrays where scalars are expected, objects-as-lists
    report = bridge.run(
        "ClientEdit",
        {
            "userid": "1042",
            "email": ["x@example.com"],
            "password": "p-secret-1",
            "olddata": "not-an-array",
            "phonenumber": None,
        },
    )
    payload = assert_signed_post(receiver.requests[0], "ClientEdit")
    assert payload["params"] == {"userid": "1042", "phonenumber": None}
    assert report["activity_log"] == []


# --------------------------------------------------------------------------
# Spool: bridge down, retries, ordering, bounds
# --------------------------------------------------------------------------


def test_receiver_down_spools_then_cron_delivers_same_id(panel, receiver):
    report = panel.run("ClientAdd", "ClientAdd")  # panel.url is a closed port
    assert report["duration_ms"] < 1000
    files = panel.spooled()
    assert len(files) == 1
    assert any("spooled" in line for line in report["activity_log"])

    # private, no signature, no credentials
    assert stat.S_IMODE(panel.spool.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert (panel.spool / ".htaccess").is_file()
    stored = json.loads(files[0].read_text())
    assert set(stored) >= {"id", "event", "body"} and "signature" not in files[0].read_text()
    for value in secret_values(load_sample("ClientAdd")):
        assert value not in files[0].read_text()
        assert value not in panel.log.read_text()
    assert not list(panel.spool.glob(".tmp-*"))

    panel.url = receiver.url
    report = panel.run("AfterCronJob")
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert_signed_post(req, "ClientAdd")
    assert req["headers"]["webhook-id"] == stored["id"]
    assert req["body"] == stored["body"]
    assert panel.spooled() == []
    assert any("resent 1" in line for line in report["activity_log"])


def test_spooled_events_are_sent_first_on_the_next_event(panel, receiver):
    panel.run("ClientAdd", "ClientAdd")
    panel.run("InvoiceCreated", "InvoiceCreated")
    first_ids = panel.spooled_ids()
    assert len(first_ids) == 2

    panel.url = receiver.url
    panel.run("InvoicePaid", "InvoicePaid")
    events = [json.loads(r["body"])["event"] for r in receiver.requests]
    assert events == ["ClientAdd", "InvoiceCreated", "InvoicePaid"]
    assert [r["headers"]["webhook-id"] for r in receiver.requests[:2]] == first_ids
    assert all(r["verified"] for r in receiver.requests)
    assert panel.spooled() == []


def test_backoff_after_failure_only_spools_until_cron(panel, receiver):
    panel.run("ClientAdd", "ClientAdd", WHATSAPP_BRIDGE_RETRY_BACKOFF_S="30")
    panel.url = receiver.url
    report = panel.run("InvoicePaid", "InvoicePaid", WHATSAPP_BRIDGE_RETRY_BACKOFF_S="30")
    assert receiver.requests == []  # no network while in backoff
    assert len(panel.spooled()) == 2
    assert any("spooled for the next try" in line for line in report["activity_log"])

    panel.run("AfterCronJob", WHATSAPP_BRIDGE_RETRY_BACKOFF_S="30")  # cron always tries
    assert [json.loads(r["body"])["event"] for r in receiver.requests] == ["ClientAdd", "InvoicePaid"]
    assert panel.spooled() == []


@pytest.mark.parametrize("status", [503, 500, 429, 408])
def test_retryable_status_is_spooled(bridge, receiver, status):
    receiver.status = status
    report = bridge.run("InvoicePaid", "InvoicePaid")
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]
    assert len(bridge.spooled()) == 1
    assert any(f"HTTP {status}" in line for line in report["activity_log"])


def test_hanging_receiver_is_cut_at_the_timeout_and_spooled(bridge, receiver):
    receiver.delay = 10
    report = bridge.run("InvoicePaid", "InvoicePaid")
    # The hook's own clock says where curl cut the call; the process's wall time (PHP's
    # start-up included, slow on a loaded CI machine) only has to show it was cut well
    # before the receiver's 10 s hang ended.
    assert report["wall_s"] < 8, report["wall_s"]
    assert report["duration_ms"] <= 2200
    assert len(bridge.spooled()) == 1
    assert any("curl error 28" in line for line in report["activity_log"])


@pytest.mark.parametrize("status", [400, 413, 422])
def test_refused_event_is_kept_in_rejected_and_logged(bridge, receiver, status):
    receiver.status = status
    report = bridge.run("InvoicePaid", "InvoicePaid")
    assert len(receiver.requests) == 1
    assert bridge.spooled() == []
    [kept] = bridge.rejected()
    stored = json.loads(kept.read_text())
    assert stored["id"] == receiver.requests[0]["headers"]["webhook-id"]
    assert stored["body"] == receiver.requests[0]["body"]  # as sent: it can be sent again
    assert f'HTTP {status} "stand-in says {status}"' in stored["rejected"]["reason"]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    # one line naming the hook and the bridge's reason
    [line] = report["activity_log"]
    assert "InvoicePaid" in line and f'HTTP {status} "stand-in says {status}"' in line and "moved to rejected/" in line


def test_flush_stops_at_first_failure_then_resumes_in_order(panel, receiver):
    for hook in ("ClientAdd", "InvoiceCreated", "InvoicePaid"):
        panel.run(hook, hook)
    ids = panel.spooled_ids()
    assert len(ids) == 3

    panel.url = receiver.url
    receiver.status = 503
    report = panel.run("AfterCronJob")
    assert len(receiver.requests) == 1  # stops at the first failure
    assert panel.spooled_ids() == ids
    assert any("still unreachable" in line for line in report["activity_log"])

    receiver.status = 200
    receiver.requests.clear()
    panel.run("AfterCronJob")
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == ids
    assert all(r["verified"] for r in receiver.requests)
    assert panel.spooled() == []


def test_spooled_event_refused_on_resend_is_moved_to_rejected(panel, receiver):
    panel.run("InvoicePaid", "InvoicePaid")
    [spooled] = panel.spooled_ids()
    panel.url = receiver.url
    receiver.status = 400
    report = panel.run("AfterCronJob")
    assert len(receiver.requests) == 1
    assert panel.spooled() == []
    assert any("refused spooled" in line for line in report["activity_log"])
    assert [json.loads(p.read_text())["id"] for p in panel.rejected()] == [spooled]
    assert any("rejected/ holds 1" in line for line in report["activity_log"])


# --------------------------------------------------------------------------
# Spool: one event never holds up the others, and nothing is dropped silently
# --------------------------------------------------------------------------

# Each failed try counts; no wait between tries, so each cron run is a try.
THREE_TRIES = {"WHATSAPP_BRIDGE_SPOOL_MAX_ATTEMPTS": "3", "WHATSAPP_BRIDGE_SPOOL_BACKOFF_BASE_S": "0"}


def answers_500_to_a_nul(body: str) -> int:
    """A bridge that cannot store a NUL character (PostgreSQL) and fails on it every time."""
    return 500 if "\\u0000" in body else 202


def sent_ids(receiver: Receiver) -> list[str]:
    return [r["headers"]["webhook-id"] for r in receiver.requests]


def test_a_poison_event_never_holds_up_the_events_behind_it(panel, receiver):
    # While the bridge is down: a ClientEdit the bridge will never store, then a good event.
    panel.run("ClientEdit", {**load_sample("ClientEdit"), "firstname": "Lu\u0000cía"})
    panel.run("InvoicePaid", "InvoicePaid")
    poison, good = panel.spooled_ids()
    panel.url = receiver.url
    receiver.status_for = answers_500_to_a_nul

    first = panel.run("AfterCronJob", **THREE_TRIES)
    assert sent_ids(receiver) == [poison, good]  # the good one arrives on the first run
    assert all(r["verified"] for r in receiver.requests)
    assert panel.spooled_ids() == [poison]
    assert any("resent 1" in line and "1 failed" in line and "HTTP 500" in line for line in first["activity_log"])

    panel.run("AfterCronJob", **THREE_TRIES)
    last = panel.run("AfterCronJob", **THREE_TRIES)
    assert sent_ids(receiver) == [poison, good, poison, poison]
    assert panel.spooled() == []
    [kept] = panel.rejected()
    stored = json.loads(kept.read_text())
    assert stored["id"] == poison and stored["rejected"]["attempts"] == 3
    assert json.loads(stored["body"])["params"]["firstname"] == "Lu\u0000cía"  # kept as sent, to look at
    # one line for the rejected event, naming the hook and the reason; the flush says what rejected/ holds
    moved = [line for line in panel.log.read_text().splitlines() if poison in line and "rejected/" in line]
    assert len(moved) == 1, moved
    assert "ClientEdit" in moved[0] and "failed 3 times (last: HTTP 500" in moved[0]
    assert "moved to rejected/" in moved[0]
    assert any("rejected/ holds 1" in line for line in last["activity_log"])

    panel.run("AfterCronJob", **THREE_TRIES)
    assert len(receiver.requests) == 4  # never sent again by itself


def test_a_failed_event_waits_for_its_own_next_try_and_others_pass(bridge, receiver):
    receiver.status = 500
    bridge.run("InvoicePaid", "InvoicePaid")  # default backoff: 60 s before its next try
    [waiting] = bridge.spooled()
    match = re.search(r"\.a1\.t(\d+)\.json$", waiting.name)
    assert match, waiting.name
    assert 0 < int(match.group(1)) - time.time() <= 60

    receiver.status = 202
    bridge.run("AfterCronJob")
    assert len(receiver.requests) == 1  # not due yet
    bridge.run("InvoiceCreated", "InvoiceCreated")  # a new event goes past it
    assert [json.loads(r["body"])["event"] for r in receiver.requests] == ["InvoicePaid", "InvoiceCreated"]
    assert bridge.spooled() == [waiting]


def test_a_refused_signature_keeps_the_events_and_says_to_check_the_secret(bridge, receiver):
    receiver.status = 401
    report = bridge.run("InvoicePaid", "InvoicePaid", **THREE_TRIES)
    [spooled] = bridge.spooled_ids()
    assert any(
        "HTTP 401" in line and "WHMCS_WEBHOOK_SECRET" in line and "spooled" in line for line in report["activity_log"]
    )

    for _ in range(4):
        report = bridge.run("AfterCronJob", **THREE_TRIES)
        assert any("WHMCS_WEBHOOK_SECRET" in line and "stay in the spool" in line for line in report["activity_log"])
    assert len(receiver.requests) == 5
    assert bridge.rejected() == []
    [file] = bridge.spooled()
    assert file.name.endswith(f"-{spooled}.json")  # no failure counted against it

    receiver.status = 202  # the secret is fixed
    bridge.run("AfterCronJob", **THREE_TRIES)
    assert sent_ids(receiver)[-1] == spooled and receiver.requests[-1]["verified"]
    assert bridge.spooled() == []


@pytest.mark.parametrize("status", [404, 405])
def test_a_url_that_is_not_the_bridge_keeps_the_events_and_says_so(panel, receiver, status):
    panel.run("InvoicePaid", "InvoicePaid")
    panel.url = receiver.url
    receiver.status = status
    report = panel.run("AfterCronJob", **THREE_TRIES)
    assert any("check bridge_url" in line and f"HTTP {status}" in line for line in report["activity_log"])
    assert len(panel.spooled()) == 1 and panel.rejected() == []
    assert panel.spooled()[0].name.endswith(f"-{panel.spooled_ids()[0]}.json")  # nothing counted


@pytest.mark.parametrize(("offset", "words"), [(-900, "ahead of"), (900, "behind")])
def test_a_refused_signature_names_a_clock_minutes_off(bridge, receiver, offset, words):
    receiver.status = 401
    receiver.clock_offset = offset  # the bridge's clock, seen from the panel
    report = bridge.run("InvoicePaid", "InvoicePaid")
    [line] = report["activity_log"]
    match = re.search(r"clock is (\d+) s (ahead of|behind) the bridge's", line)
    assert match and match.group(2) == words, line
    assert abs(int(match.group(1)) - 900) <= 5 and "NTP" in line
    assert len(bridge.spooled()) == 1


@pytest.mark.parametrize("status", [503, 429, 502])
def test_an_unavailable_bridge_ends_the_flush_and_counts_against_no_event(panel, receiver, status):
    panel.run("InvoiceCreated", "InvoiceCreated")
    panel.run("InvoicePaid", "InvoicePaid")
    names = [p.name for p in panel.spooled()]
    panel.url = receiver.url
    receiver.status = status
    for _ in range(4):
        report = panel.run("AfterCronJob", **THREE_TRIES)
        assert any("still unreachable" in line and f"HTTP {status}" in line for line in report["activity_log"])
    assert len(receiver.requests) == 4  # one try per run: the rest would get the same answer
    assert [p.name for p in panel.spooled()] == names and panel.rejected() == []


def test_an_event_older_than_the_age_limit_moves_to_rejected(panel, receiver):
    panel.run("InvoicePaid", "InvoicePaid")
    [file] = panel.spooled()
    stored = json.loads(file.read_text())
    file.write_text(json.dumps({**stored, "created_at": int(time.time()) - 8 * 86400}))
    panel.url = receiver.url
    report = panel.run("AfterCronJob")
    assert receiver.requests == []
    assert panel.spooled() == []
    assert [json.loads(p.read_text())["id"] for p in panel.rejected()] == [stored["id"]]
    assert any(
        "InvoicePaid event" in line and "waited more than 7 days" in line and "moved to rejected/" in line
        for line in report["activity_log"]
    )


def test_flush_is_bounded_to_50_files(panel, receiver):
    panel.run("InvoicePaid", "InvoicePaid")
    (template,) = panel.spooled()
    stored = json.loads(template.read_text())
    base = int(template.name.split("-")[0])
    for i in range(1, 60):
        msg = dict(stored, id=f"whmcs_{i:024x}")
        (panel.spool / f"{base + i:017d}-{msg['id']}.json").write_text(json.dumps(msg))
    assert len(panel.spooled()) == 60

    panel.url = receiver.url
    panel.run("AfterCronJob")
    assert len(receiver.requests) == 50
    assert receiver.requests[0]["headers"]["webhook-id"] == stored["id"]
    assert receiver.requests[1]["headers"]["webhook-id"] == f"whmcs_{1:024x}"
    assert all(r["verified"] for r in receiver.requests)
    assert len(panel.spooled()) == 10


def test_flush_skips_while_another_process_holds_the_lock(panel, receiver):
    panel.run("InvoicePaid", "InvoicePaid")
    panel.url = receiver.url
    with open(panel.spool / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        panel.run("AfterCronJob")
        assert receiver.requests == []
        assert len(panel.spooled()) == 1
    panel.run("AfterCronJob")
    assert len(receiver.requests) == 1


def test_unreadable_spool_file_is_moved_aside(panel, receiver):
    panel.spool.mkdir(mode=0o700)
    (panel.spool / "00000000000000001-broken.json").write_text("{not json")
    panel.run("InvoicePaid", "InvoicePaid")  # spool not empty: queued behind it
    panel.url = receiver.url
    panel.run("AfterCronJob")
    assert len(receiver.requests) == 1
    assert (panel.spool / "00000000000000001-broken.json.bad").is_file()
    assert panel.spooled() == []
    assert "unreadable spool file" in panel.log.read_text()


# --------------------------------------------------------------------------
# Enrichment
# --------------------------------------------------------------------------


def test_domain_delete_adds_domain_name(bridge, receiver):
    report = bridge.run("DomainDelete", "DomainDelete")
    assert report["localapi_calls"] == [{"command": "GetClientsDomains", "args": {"domainid": 9120}}]
    params = json.loads(receiver.requests[0]["body"])["params"]
    assert params == {"userid": 1042, "domainid": 9120, "domain": "radioandina.example"}


def test_after_module_terminate_adds_product_name(bridge, receiver):
    report = bridge.run("AfterModuleTerminate", "AfterModuleTerminate")
    assert report["localapi_calls"] == [{"command": "GetClientsProducts", "args": {"serviceid": 5521}}]
    params = json.loads(receiver.requests[0]["body"])["params"]["params"]
    assert params["productname"] == "Radio Streaming Pro"
    assert params["groupname"] == "Streaming"


def test_enrichment_exception_still_sends(bridge, receiver):
    report = bridge.run("DomainDelete", "DomainDelete", WHMCS_HARNESS_API_THROW="GetClientsDomains")
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]
    assert json.loads(receiver.requests[0]["body"])["params"] == {"userid": 1042, "domainid": 9120}
    assert any("enrichment failed" in line for line in report["activity_log"])


def test_enrichment_api_error_still_sends(bridge, receiver, tmp_path):
    api_dir = tmp_path / "api"
    api_dir.mkdir()
    shutil.copy(API_SAMPLES / "error.client_not_found.json", api_dir / "GetClientsProducts.json")
    report = bridge.run("AfterModuleTerminate", "AfterModuleTerminate", WHMCS_HARNESS_API_DIR=str(api_dir))
    params = json.loads(receiver.requests[0]["body"])["params"]["params"]
    assert "productname" not in params and params["serviceid"] == 5521
    assert any("Client Not Found" in line for line in report["activity_log"])


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


def test_config_file_settings_and_custom_fields(panel, receiver, tmp_path):
    config = tmp_path / "whatsapp_bridge.config.php"
    config.write_text(
        "<?php\nif (!defined('WHMCS')) { die('no'); }\nreturn [\n"
        f"  'bridge_url' => '{receiver.url}/',\n"
        f"  'secret' => '{panel.secret}',\n"
        "  'events' => ['ClientAdd'],\n"
        "  'forward_custom_fields' => [7],\n];\n"
    )
    report = panel.run(
        "ClientAdd",
        "ClientAdd",
        WHATSAPP_BRIDGE_CONFIG=str(config),
        WHATSAPP_BRIDGE_URL=None,
        WHATSAPP_BRIDGE_SECRET=None,
    )
    assert set(report["registered"]) == {"ClientAdd", "AfterCronJob"} | ANSWERED_BY_DEFAULT
    payload = assert_signed_post(receiver.requests[0], "ClientAdd")
    assert payload["params"]["customfields"] == {"7": "on"}


def test_custom_fields_stay_in_the_panel_by_default(bridge, receiver):
    bridge.run("ClientAdd", "ClientAdd")
    assert "customfields" not in json.loads(receiver.requests[0]["body"])["params"]


@pytest.mark.parametrize(
    "env",
    [
        {"WHATSAPP_BRIDGE_URL": None},
        {"WHATSAPP_BRIDGE_SECRET": None},
        {"WHATSAPP_BRIDGE_SECRET": "whsec_***not base64***"},
    ],
)
def test_not_configured_logs_and_sends_nothing(bridge, receiver, env):
    report = bridge.run("InvoicePaid", "InvoicePaid", **env)
    assert receiver.requests == []
    assert bridge.spooled() == []
    assert any("not configured" in line for line in report["activity_log"])


def test_full_endpoint_url_is_not_doubled(bridge, receiver):
    bridge.url = receiver.url + "/webhooks/whmcs"
    bridge.run("InvoicePaid", "InvoicePaid")
    assert receiver.requests[0]["path"] == "/webhooks/whmcs"


def test_hook_file_refuses_direct_access():
    proc = subprocess.run(["php", str(HOOK_FILE)], capture_output=True, text=True)
    assert "cannot be accessed directly" in proc.stdout
