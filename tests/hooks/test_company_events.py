"""The rest of the company's day, from the PHP hook file to WHMCS's API edge, the staff's
and the customer's inboxes: orders and their activation, set-ups, tickets for staff, quotes,
cancellations, a WHMCS user's password.

Real: php running the hook file, the bridge over HTTP, the queue and a worker, Prism serving
Twilio's OpenAPI description, an SMTP server. Faked at the HTTP edge: WHMCS's API
(tests.support.whmcs_stand_in). The routing names staff groups: `default` (billing), `sales`
(in English), and department 3 ("Facturación") -> `cobranzas`.
"""

from __future__ import annotations

import copy
import shutil
from typing import Any
from urllib.parse import parse_qs

import pytest

from bridge.core.states import State
from bridge.services import services
from bridge.store.models import OrderActivation, ServiceCancellation
from tests.helpers import REPO, actions_of, count, customer_wrote, load_sample
from tests.support.whmcs_stand_in import WhmcsStandIn

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("the_customer_wrote")]

DEFAULT_STAFF = "facturacion@tuhosting.example"
SALES = "ventas@tuhosting.example"
COLLECTIONS = "cobranzas@tuhosting.example"
CLIENT = "lucia@radioandina.example"
LANGUAGES = {"es": "spanish", "en": "english"}


def company_config(tmp_path, activation: str = "", changes: tuple[tuple[str, str], ...] = ()) -> str:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    routing = (config / "routing.toml").read_text()
    routing = routing.replace("emails = []      #", f'emails = ["{DEFAULT_STAFF}"]  #')
    routing = routing.replace(
        '[staff.groups.sales]\nemails = []\nwhatsapp = []\nlanguage = "es"',
        f'[staff.groups.sales]\nemails = ["{SALES}"]\nwhatsapp = []\nlanguage = "en"\n'
        f'[staff.groups.cobranzas]\nemails = ["{COLLECTIONS}"]\nlanguage = "es"',
    )
    routing = routing.replace("[staff.departments]\n", '[staff.departments]\n"3" = "cobranzas"\n')
    routing = routing.replace('[activation]\ndefault = "manual"\n', f'[activation]\ndefault = "manual"\n{activation}\n')
    for old, new in changes:
        assert old in routing, old
        routing = routing.replace(old, new)
    (config / "routing.toml").write_text(routing)
    return str(config)


@pytest.fixture
def activation() -> str:
    return ""


@pytest.fixture
def routing_changes() -> tuple[tuple[str, str], ...]:
    return ()


@pytest.fixture
def live_config(tmp_path, activation, routing_changes) -> dict[str, Any]:
    return {"BRIDGE_CONFIG_DIR": company_config(tmp_path, activation, routing_changes)}


def _last_event(svc) -> int:
    with svc.db.engine.connect() as connection:
        return connection.exec_driver_sql("select max(id) from events").scalar()


def _mail(inbox, to: str) -> list:
    return [m for m in inbox.messages if m["To"] == to]


def _text(message) -> str:
    return f"{message['Subject']}\n{message.get_content()}"


def _whatsapps(edge, prism) -> list[dict[str, list[str]]]:
    return [parse_qs(call.request.body) for call in edge.calls if call.request.url.startswith(prism.base_url)]


def _run(live, stand_in, run_worker, event: str, params: Any = None) -> int:
    app, panel, _, _ = live
    report = panel.run(event, params if params is not None else event)
    assert panel.spooled() == [], report
    run_worker(app)
    return _last_event(services(app))


def _products(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"result": "success", "totalresults": len(rows), "products": {"product": list(rows)}}


ORDER_SERVICE = {"id": 5630, "pid": 7, "groupname": "Hosting", "name": "Hosting Emprendedor", "status": "Pending"}
OLD_SERVICE = {"id": 5521, "pid": 12, "groupname": "Streaming", "name": "Radio Streaming Pro", "status": "Active"}
INSTANT_HOSTING_BY_DEBIT = (
    '[[activation.rules]]\nproduct_groups = ["Hosting"]\npayment_methods = ["pagos360"]\npolicy = "instant"'
)


# -- orders -------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", [INSTANT_HOSTING_BY_DEBIT])
def test_a_paid_order_under_instant_is_accepted_once_whatever_whmcs_resends(live, stand_in, run_worker):
    app, _, inbox, _ = live
    svc = services(app)
    stand_in.answers["GetClientsProducts"] = _products(ORDER_SERVICE)
    event_id = _run(live, stand_in, run_worker, "OrderPaid")
    _run(live, stand_in, run_worker, "OrderPaid")  # WHMCS fires it again: a new webhook id

    assert _last_event(svc) == event_id  # the second post was a repeat of order 4410
    accepts = [form for action, form in stand_in.calls if action == "AcceptOrder"]
    assert [(f["orderid"], f["autosetup"]) for f in accepts] == [("4410", "true")]
    [order] = [a for a in actions_of(svc, event_id) if a.channel == "whmcs_order"]
    assert order.state == State.SENT
    assert count(svc, OrderActivation, OrderActivation.order_id == "4410", OrderActivation.state == "done") == 1
    assert stand_in.actions().index("GetOrders") < stand_in.actions().index("AcceptOrder")
    assert inbox.messages == []  # nobody is told: the client hears AfterModuleCreate


def test_a_paid_order_under_manual_waits_for_staff(live, stand_in, run_worker):
    _, _, inbox, _ = live
    stand_in.answers["GetClientsProducts"] = _products(ORDER_SERVICE)
    _run(live, stand_in, run_worker, "OrderPaid")
    assert "AcceptOrder" not in stand_in.actions()
    [alert] = _mail(inbox, DEFAULT_STAFF)
    text = _text(alert)
    # The amount in the staff group's language (es_AR), as the client's messages write it.
    for value in (
        "5829301746",
        "Hosting - Hosting Emprendedor",
        "estudiogomez.example",
        "Lucía Fernández",
        "$11.495,00",
    ):
        assert value in text, (value, text)
    assert "orders.php?action=view&id=4410" in text


@pytest.mark.parametrize("activation", ['[[activation.rules]]\nproduct_groups = ["Hosting"]\npolicy = "returning"'])
@pytest.mark.parametrize("returning", [True, False], ids=["returning", "new"])
def test_returning_is_instant_only_for_a_client_with_history(returning, live, stand_in, run_worker):
    _, _, inbox, _ = live
    rows = (ORDER_SERVICE, OLD_SERVICE) if returning else (ORDER_SERVICE,)
    stand_in.answers["GetClientsProducts"] = _products(*rows)
    _run(live, stand_in, run_worker, "OrderPaid")
    assert ("AcceptOrder" in stand_in.actions()) is returning
    assert len(_mail(inbox, DEFAULT_STAFF)) == (0 if returning else 1)


@pytest.mark.parametrize("activation", [INSTANT_HOSTING_BY_DEBIT])
def test_an_order_with_products_under_different_policies_gets_the_strictest(live, stand_in, run_worker):
    _, _, inbox, _ = live
    order = copy.deepcopy(load_sample("whmcs_api", "GetOrders"))
    line = order["orders"]["order"][0]["lineitems"]["lineitem"][0]
    other = {**line, "relid": 5631, "product": "Servidores - VPS Pro", "domain": "vps.estudiogomez.example"}
    order["orders"]["order"][0]["lineitems"]["lineitem"].append(other)
    stand_in.answers["GetOrders"] = order
    vps = {"id": 5631, "pid": 30, "groupname": "Servidores", "name": "VPS Pro", "status": "Pending"}
    stand_in.answers["GetClientsProducts"] = _products(ORDER_SERVICE, vps)
    _run(live, stand_in, run_worker, "OrderPaid")
    assert "AcceptOrder" not in stand_in.actions()
    [alert] = _mail(inbox, DEFAULT_STAFF)
    assert "VPS Pro" in _text(alert) and "Hosting Emprendedor" in _text(alert)


@pytest.mark.parametrize("activation", [INSTANT_HOSTING_BY_DEBIT])
def test_whmcs_refusing_to_accept_tells_staff_its_error(live, stand_in, run_worker):
    app, _, inbox, _ = live
    stand_in.answers["GetClientsProducts"] = _products(ORDER_SERVICE)
    stand_in.answers["AcceptOrder"] = {"result": "error", "message": "Registrar Error: domain not available"}
    event_id = _run(live, stand_in, run_worker, "OrderPaid")
    [order] = [a for a in actions_of(services(app), event_id) if a.channel == "whmcs_order"]
    assert order.state == State.FAILED and "Registrar Error" in (order.last_error or "")
    [alert] = _mail(inbox, DEFAULT_STAFF)
    assert "Registrar Error: domain not available" in _text(alert) and "5829301746" in _text(alert)
    assert count(services(app), OrderActivation) == 0  # released: a retry may accept it once fixed


@pytest.mark.parametrize("activation", [INSTANT_HOSTING_BY_DEBIT])
def test_an_order_already_active_is_success_without_accepting(live, stand_in, run_worker):
    app, _, inbox, _ = live
    stand_in.answers["GetClientsProducts"] = _products(ORDER_SERVICE)
    stand_in.accepted_orders.append("4410")  # staff accepted it by hand meanwhile
    event_id = _run(live, stand_in, run_worker, "OrderPaid")
    [order] = [a for a in actions_of(services(app), event_id) if a.channel == "whmcs_order"]
    assert order.state == State.SENT
    assert "AcceptOrder" not in stand_in.actions() and inbox.messages == []


def test_a_cancelled_order_reaches_staff(live, stand_in, run_worker):
    _, _, inbox, _ = live
    _run(live, stand_in, run_worker, "CancelOrder")
    [alert] = _mail(inbox, DEFAULT_STAFF)
    assert "5829301746" in _text(alert)


# -- set-up ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["es", "en"])
def test_a_service_set_up_tells_the_client_with_its_link(language, live, stand_in, prism, run_worker):
    _, _, inbox, edge = live
    stand_in.language = LANGUAGES[language]
    _run(live, stand_in, run_worker, "AfterModuleCreate")
    [whatsapp] = _whatsapps(edge, prism)
    link = "https://clientes.example.com/clientarea.php?action=productdetails&id=5630"
    assert link in whatsapp["Body"][0] and "estudiogomez.example" in whatsapp["Body"][0]
    [email] = _mail(inbox, CLIENT)
    assert link in email.get_content()
    assert email["Subject"].startswith({"es": "Habilitación del servicio", "en": ""}[language])
    assert _mail(inbox, DEFAULT_STAFF) == []


def test_a_failed_set_up_tells_staff_and_not_the_client(live, stand_in, prism, run_worker):
    _, _, inbox, edge = live
    _run(live, stand_in, run_worker, "AfterModuleCreateFailed")
    [alert] = _mail(inbox, DEFAULT_STAFF)
    assert "Could not connect to srv4.host.example:2087 (Connection timed out)" in _text(alert)
    assert _mail(inbox, CLIENT) == [] and _whatsapps(edge, prism) == []


# -- tickets, for staff ---------------------------------------------------------------------


def test_a_new_ticket_reaches_its_departments_group_with_secrets_hidden(live, stand_in, run_worker):
    _, _, inbox, _ = live
    params = load_sample("whmcs_hooks", "TicketOpen")
    params["message"] = "Mi usuario es lucia y mi clave es Hx7-22ab. Tarjeta 4111 1111 1111 1111. " + "Gracias. " * 60
    _run(live, stand_in, run_worker, "TicketOpen", params)
    [alert] = _mail(inbox, COLLECTIONS)
    text = _text(alert)
    assert "418305" in text and "No puedo pagar la factura A-0088231" in text
    assert "supporttickets.php?action=view&id=7731" in text
    assert "Hx7-22ab" not in text and "4111 1111 1111 1111" not in text
    assert "Gracias. " * 45 not in text  # cut to about 300 characters
    assert _mail(inbox, DEFAULT_STAFF) == []


def test_a_ticket_flagged_to_an_admin_also_reaches_that_admin(live, stand_in, run_worker):
    _, _, inbox, _ = live
    ticket = load_sample("whmcs_api", "GetTicket")
    stand_in.answers["GetTicket"] = {**ticket, "flag": "1"}
    _run(live, stand_in, run_worker, "TicketUserReply")
    assert len(_mail(inbox, COLLECTIONS)) == 1
    [to_admin] = _mail(inbox, "carolina.sosa@host.example")
    assert "Probé de nuevo y sigue igual" in to_admin.get_content()


def test_a_ticket_of_a_department_with_no_group_goes_to_default_and_a_reply_counts_once(live, stand_in, run_worker):
    app, _, inbox, _ = live
    ticket = load_sample("whmcs_api", "GetTicket")
    stand_in.answers["GetTicket"] = {**ticket, "deptid": "9", "deptname": "Proyectos"}
    params = {**load_sample("whmcs_hooks", "TicketUserReply"), "deptid": 9, "deptname": "Proyectos"}
    event_id = _run(live, stand_in, run_worker, "TicketUserReply", params)
    _run(live, stand_in, run_worker, "TicketUserReply", params)  # the same reply, fired twice
    assert _last_event(services(app)) == event_id
    assert len(_mail(inbox, DEFAULT_STAFF)) == 1 and _mail(inbox, COLLECTIONS) == []


@pytest.mark.parametrize("language", ["es", "en"])
def test_a_staff_answer_to_a_ticket_opened_by_email_reaches_the_client_on_whatsapp(
    language, live, stand_in, prism, run_worker
):
    _, _, inbox, edge = live
    stand_in.language = LANGUAGES[language]
    _run(live, stand_in, run_worker, "TicketAdminReply")
    [whatsapp] = _whatsapps(edge, prism)
    assert "https://clientes.example.com/viewticket.php?tid=418305&c=Qm7xT2pa" in whatsapp["Body"][0]
    assert _mail(inbox, CLIENT) == []  # WHMCS emails the answer itself
    assert "GetContacts" not in stand_in.actions()  # asked only when a contact opened the ticket


def test_a_staff_answer_respects_the_support_emails_preference_and_guests(live, stand_in, prism, run_worker):
    app, _, _, edge = live
    details = copy.deepcopy(load_sample("whmcs_api", "GetClientsDetails"))
    details["client"]["email_preferences"]["support"] = 0
    stand_in.answers["GetClientsDetails"] = details
    event_id = _run(live, stand_in, run_worker, "TicketAdminReply")
    [skipped] = actions_of(services(app), event_id)
    assert skipped.state == State.SKIPPED and "support emails" in (skipped.last_error or "")

    stand_in.answers["GetTicket"] = {**load_sample("whmcs_api", "GetTicket"), "userid": "0"}
    params = {**load_sample("whmcs_hooks", "TicketAdminReply"), "replyid": 15300}
    event_id = _run(live, stand_in, run_worker, "TicketAdminReply", params)
    [guest] = actions_of(services(app), event_id)
    assert guest.state == State.SKIPPED and "no client" in (guest.last_error or "")
    assert _whatsapps(edge, prism) == []


# -- quotes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["es", "en"])
def test_an_accepted_quote_is_one_notice_to_the_client_and_one_to_sales(language, live, stand_in, prism, run_worker):
    app, _, inbox, edge = live
    stand_in.language = LANGUAGES[language]
    event_id = _run(live, stand_in, run_worker, "AcceptQuote")
    _run(live, stand_in, run_worker, "QuoteStatusChange", {"quoteid": 311, "status": "Accepted"})
    assert _last_event(services(app)) == event_id  # the same acceptance
    [whatsapp] = _whatsapps(edge, prism)
    assert "311" in whatsapp["Body"][0]
    [email] = _mail(inbox, CLIENT)
    assert "Migración de hosting" in _text(email)
    [to_sales] = _mail(inbox, SALES)
    assert "311" in _text(to_sales) and "quote" in _text(to_sales).lower()  # the sales group reads English
    assert _mail(inbox, DEFAULT_STAFF) == []


def test_a_lost_quote_of_a_lead_reaches_sales_only(live, stand_in, prism, run_worker):
    _, _, inbox, edge = live
    quotes = copy.deepcopy(load_sample("whmcs_api", "GetQuotes"))
    quote = quotes["quotes"]["quote"][0]
    quote.update(id=312, userid=0, firstname="Rosa", lastname="Quiroga", email="rosa@prospecto.example")
    stand_in.answers["GetQuotes"] = quotes
    _run(live, stand_in, run_worker, "QuoteStatusChange")
    [to_sales] = _mail(inbox, SALES)
    assert "Rosa Quiroga" in _text(to_sales) and "rosa@prospecto.example" in _text(to_sales)
    assert "GetClientsDetails" not in stand_in.actions()
    assert _whatsapps(edge, prism) == [] and _mail(inbox, CLIENT) == []


# -- cancellations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "kind", "expected"),
    [
        ("es", "Immediate", "se dará de baja en el transcurso del día"),
        ("en", "End of Billing Period", "November 10, 2026"),
    ],
)
def test_a_cancellation_request_is_confirmed_for_its_kind(language, kind, expected, live, stand_in, run_worker):
    app, _, inbox, _ = live
    stand_in.language = LANGUAGES[language]
    params = {**load_sample("whmcs_hooks", "CancellationRequest"), "type": kind}
    _run(live, stand_in, run_worker, "CancellationRequest", params)
    [email] = _mail(inbox, CLIENT)
    assert expected in email.get_content(), email.get_content()
    assert stand_in.actions().count("GetClientsProducts") == 1  # its name and its billing, at once
    [alert] = _mail(inbox, DEFAULT_STAFF)
    assert "Chiudo l'attività" in _text(alert) and "débito" in _text(alert)  # paid by debit: the cycle stops
    with services(app).db.session() as session:
        [row] = session.query(ServiceCancellation).all()
        assert (row.service_id, row.immediate) == ("5610", kind == "Immediate")
        assert row.ends_on is not None and row.ends_on.isoformat() == "2026-11-10"


# -- a WHMCS 8 user -------------------------------------------------------------------------


def test_a_users_password_change_reaches_every_client_of_that_user(live, stand_in, prism, run_worker):
    app, _, inbox, edge = live
    event_id = _run(live, stand_in, run_worker, "UserChangePassword")
    with services(app).db.engine.connect() as connection:
        stored = connection.exec_driver_sql(f"select client_id, payload from events where id = {event_id}").one()
    assert stored[0] is None and "Nuev4-clave-plain" not in str(stored[1])  # 877 is a user, not a client
    asked = [form["clientid"] for action, form in stand_in.calls if action == "GetClientsDetails"]
    assert asked == ["1042", "1077"]
    assert len(_whatsapps(edge, prism)) == 2 and len(_mail(inbox, CLIENT)) == 2


EXCLUDED = (
    ("exclude_groups = []", "exclude_groups = [4]"),
    ("[company.manuals]\n", '[company.manuals]\n"7" = "https://x.example/m7"\n'),
)


@pytest.mark.parametrize("activation", [INSTANT_HOSTING_BY_DEBIT])
@pytest.mark.parametrize("routing_changes", [EXCLUDED])
def test_an_excluded_clients_order_is_activated_and_only_the_clients_messages_left_out(
    live, stand_in, prism, run_worker
):
    app, _, inbox, edge = live
    details = copy.deepcopy(load_sample("whmcs_api", "GetClientsDetails"))
    details["client"]["groupid"] = 4  # e.g. the company's resellers
    stand_in.answers["GetClientsDetails"] = details
    stand_in.answers["GetClientsProducts"] = _products(ORDER_SERVICE)
    _run(live, stand_in, run_worker, "OrderPaid")
    assert stand_in.actions().count("AcceptOrder") == 1

    event_id = _run(live, stand_in, run_worker, "AfterModuleCreate")
    told = actions_of(services(app), event_id)
    assert told and all(a.state == State.SKIPPED and "left out" in (a.last_error or "") for a in told)
    assert _whatsapps(edge, prism) == [] and _mail(inbox, CLIENT) == []


@pytest.mark.parametrize("routing_changes", [EXCLUDED[1:]])
def test_a_product_with_a_manual_links_to_it(live, stand_in, prism, run_worker):
    _, _, inbox, edge = live
    _run(live, stand_in, run_worker, "AfterModuleCreate")  # pid 7
    [whatsapp] = _whatsapps(edge, prism)
    assert "https://x.example/m7" in whatsapp["Body"][0]
    assert "https://x.example/m7" in _mail(inbox, CLIENT)[0].get_content()


@pytest.mark.parametrize("takes_support", [True, False], ids=["support-emails", "no-support-emails"])
def test_a_staff_answer_to_a_contacts_ticket_reaches_that_contact(
    takes_support, live, stand_in, prism, run_worker, database_url
):
    app, _, _, edge = live
    customer_wrote(database_url, number="+5493515554321")  # the contact wrote in the last day
    stand_in.answers["GetTicket"] = {**load_sample("whmcs_api", "GetTicket"), "contactid": "55"}
    contacts = copy.deepcopy(WhmcsStandIn._sample("GetContacts"))
    contacts["contacts"]["contact"][0]["supportemails"] = "1" if takes_support else "0"
    stand_in.answers["GetContacts"] = contacts
    event_id = _run(live, stand_in, run_worker, "TicketAdminReply")
    sent = _whatsapps(edge, prism)
    if not takes_support:
        [skipped] = actions_of(services(app), event_id)
        assert sent == [] and "does not take support emails" in (skipped.last_error or "")
        return
    [whatsapp] = sent
    assert whatsapp["To"] == ["whatsapp:+5493515554321"]  # the contact's phone, not the client's
    assert whatsapp["Body"][0].startswith("Hola Martín") and "tid=418305" in whatsapp["Body"][0]
