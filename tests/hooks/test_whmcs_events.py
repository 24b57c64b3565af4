"""Every WHMCS event, from the PHP hook file to the customer's WhatsApp and email.

Real: php running the hook file (through the WHMCS stand-in harness), the bridge served
over HTTP, the queue and a worker, Prism serving Twilio's OpenAPI description, an SMTP
server. Faked at the HTTP edge: WHMCS's API (tests.support.whmcs_stand_in).
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses

from bridge.core.states import State
from bridge.services import services
from tests.helpers import actions_of, plan_of, transitions_of
from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn

INVOICE = {
    "es": ["A-0088231", "$18.150,00", "https://clientes.example.com/viewinvoice.php?id=88231"],
    "en": ["A-0088231", "ARS18,150.00", "https://clientes.example.com/viewinvoice.php?id=88231"],
}
SERVICE = {"es": ["Radio Streaming Pro", "radioandina.example"], "en": ["Radio Streaming Pro", "radioandina.example"]}
CLIENT_AREA = {lang: ["https://clientes.example.com/clientarea.php"] for lang in ("es", "en")}
EXPECTED = {
    "ClientAdd": CLIENT_AREA,
    "ClientChangePassword": CLIENT_AREA,
    "ClientEdit": CLIENT_AREA,
    "InvoiceCreated": {"es": [*INVOICE["es"], "10 de noviembre de 2026"], "en": [*INVOICE["en"], "November 10, 2026"]},
    "InvoiceCancelled": INVOICE,
    "InvoicePaid": {"es": [*INVOICE["es"], "11 de noviembre de 2026"], "en": [*INVOICE["en"], "November 11, 2026"]},
    "AfterModuleSuspend": {lang: [*SERVICE[lang], "Overdue on Payment"] for lang in ("es", "en")},
    "AfterModuleUnsuspend": SERVICE,
    "AfterModuleTerminate": SERVICE,
    "QuoteCreated": {
        "es": ["311", "Migración de hosting", "$42.000,00", "https://clientes.example.com/viewquote.php?id=311"],
        "en": ["311", "Migración de hosting", "ARS42,000.00", "https://clientes.example.com/viewquote.php?id=311"],
    },
    "DomainDelete": {lang: ["radioandina.example"] for lang in ("es", "en")},
}
GREETING = {"es": "Hola Lucía", "en": "Hi Lucía"}
# The customer wrote within the last 24 hours: each event's own free-form text goes, and is
# what these tests read (the window rule: tests/work/test_whatsapp_gate.py).
pytestmark = pytest.mark.usefixtures("the_customer_wrote")
INVOICE_EVENTS = ("InvoiceCreated", "InvoiceCancelled", "InvoicePaid")


def _twilio_messages(edge, prism) -> list[dict[str, list[str]]]:
    return [parse_qs(call.request.body) for call in edge.calls if call.request.url.startswith(prism.base_url)]


@pytest.mark.slow  # left out of `make check`: PHP's hook file against the bridge over HTTP
@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("event", list(EXPECTED))
def test_each_event_reaches_the_customer(event, language, live, stand_in, prism, run_worker):
    app, panel, inbox, edge = live
    svc = services(app)
    stand_in.language = {"es": "spanish", "en": "english"}[language]
    if event == "InvoicePaid":
        from tests.helpers import load_sample

        stand_in.answers["GetInvoice"] = load_sample("whmcs_api", "GetInvoice.paid")

    report = panel.run(event, event)
    assert panel.spooled() == [], report  # the bridge took it: nothing left for the next cron
    run_worker(app)

    with svc.db.engine.connect() as connection:
        event_id = connection.exec_driver_sql("select max(id) from events").scalar()
    actions = actions_of(svc, event_id)
    assert all(a.state == State.SENT for a in actions), [(a.channel, a.state, a.last_error) for a in actions]
    [whatsapp] = _twilio_messages(edge, prism)
    assert whatsapp["To"] == ["whatsapp:+5493515551234"]
    text = whatsapp["Body"][0]
    assert text.startswith(("¡" + GREETING[language], GREETING[language])), text
    for value in EXPECTED[event][language]:
        assert value in text, (value, text)

    to_client = [m for m in inbox.messages if m["To"] == "lucia@radioandina.example"]
    assert len(to_client) == 1
    body = to_client[0].get_content()
    for value in EXPECTED[event][language]:
        assert value in body or value in to_client[0]["Subject"], (value, body)
    to_contact = [m for m in inbox.messages if m["To"] == "administracion@radioandina.example"]
    assert len(to_contact) == (1 if event in INVOICE_EVENTS else 0)  # invoice emails only, by preference
    if to_contact:
        assert "Martín" in to_contact[0].get_content()
    assert "hash-that-must-never-be-stored" not in str(
        svc.db.engine.connect().exec_driver_sql("select * from events").all()
    )


def test_a_client_gone_from_whmcs_is_skipped_not_retried(post_event, make_app, run_worker):
    with responses.RequestsMock() as edge:
        stand_in = WhmcsStandIn()
        stand_in.answers["GetClientsDetails"] = {"result": "error", "message": "Client Not Found"}
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        app = make_app(**SETTINGS)
        svc = services(app)
        event_id = post_event("ClientChangePassword").get_json()["event_id"]
        run_worker(app)

    plan = plan_of(svc, event_id)
    assert plan.state == State.SKIPPED and plan.attempts == 1
    assert transitions_of(svc, plan.id)[-1][2] == "nothing to do: client 1042 no longer exists in WHMCS"
    assert actions_of(svc, event_id) == []


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        ({"status": 503, "body": "<html>maintenance</html>"}, State.RETRYING),
        ({"status": 200, "body": "<html>maintenance</html>"}, State.RETRYING),
        ({"status": 200, "json": {"result": "error", "message": "Authentication Failed"}}, State.FAILED),
        ({"status": 403, "json": {"result": "error", "message": "Invalid IP 10.0.0.9"}}, State.FAILED),
    ],
    ids=["503", "html", "auth", "ip"],
)
def test_whmcs_errors_are_retried_or_stop(answer, state, post_event, make_app, run_worker):
    with responses.RequestsMock() as edge:
        edge.add(responses.POST, API_URL, **answer)
        app = make_app(**SETTINGS)
        event_id = post_event("InvoiceCreated").get_json()["event_id"]
        run_worker(app)
    plan = plan_of(services(app), event_id)
    assert plan.state == state and plan.attempts == 1


def test_lookups_are_made_once_per_event(post_event, make_app, run_worker):
    with responses.RequestsMock() as edge:
        stand_in = WhmcsStandIn()
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        app = make_app(**SETTINGS, **{"WHMCS_API_ACCESSKEY": "the-access-key"})
        post_event("InvoiceCreated")
        run_worker(app)
    assert stand_in.actions() == ["GetInvoice", "GetClientsDetails", "GetContacts"]
    form = stand_in.calls[0][1]
    assert form["identifier"] == "bridge-identifier" and form["secret"] == "bridge-secret"
    assert form["accesskey"] == "the-access-key" and form["responsetype"] == "json"


@pytest.mark.slow  # left out of `make check`: PHP's hook file against the bridge over HTTP
def test_bridge_down_the_panel_spools_and_cron_delivers_one_event(live, run_worker):
    app, panel, _, _ = live
    svc = services(app)
    up = panel.url
    panel.url = "http://127.0.0.1:9"  # the bridge is down (nothing listens on the discard port)
    panel.run("InvoiceCreated", "InvoiceCreated")
    [spooled] = panel.spooled_ids()

    panel.url = up
    panel.run("AfterCronJob")
    panel.run("AfterCronJob")  # nothing left to send twice

    assert panel.spooled() == []
    with svc.db.engine.connect() as connection:
        rows = connection.exec_driver_sql("select external_id, type from events").all()
    assert rows == [(spooled, "InvoiceCreated")]


@pytest.mark.slow  # left out of `make check`: PHP's hook file against the bridge over HTTP
def test_no_secret_from_the_panel_reaches_the_database(live):
    app, panel, _, _ = live
    for event in ("ClientAdd", "ClientChangePassword", "AfterModuleSuspend", "AfterModuleTerminate"):
        panel.run(event, event)
    with services(app).db.engine.connect() as connection:
        stored = "\n".join(str(row[0]) for row in connection.exec_driver_sql("select payload from events"))
    assert stored.count("Lucía") == 3  # ClientAdd, and the two module events' clientsdetails
    for secret in (
        "S3cret!plain",
        "N3w-plain-password",
        "svc-plain-password",
        "server-root-password",
        "WHM-ACCESS-HASH",
    ):
        assert secret not in stored
