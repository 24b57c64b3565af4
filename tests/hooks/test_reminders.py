"""Reminders before money is late, renewals before things expire: from the PHP hook file (or
the daily renewal scan) to WHMCS's API edge and the client's WhatsApp, in one message a day.

Real: php running the hook file, the bridge over HTTP, the queue and a worker, Prism serving
Twilio's OpenAPI description, an SMTP server. Faked at the HTTP edge: WHMCS's API
(tests.support.whmcs_stand_in). The relay's passes are called as the relay calls them.
"""

from __future__ import annotations

import copy
import shutil
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from babel.dates import format_date
from sqlalchemy import select

from bridge.scheduled import notice_digest, renewal_scan
from bridge.services import services
from bridge.store.models import CardAdhesion, Event, ScheduledNotice, ScheduledRun
from tests.helpers import REPO, actions_of, count, debit_requested, load_sample

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("the_customer_wrote")]

LANGUAGES = {"es": "spanish", "en": "english"}
# The relay's pass tomorrow at 10:00 in Buenos Aires: after [reminders] send_hour, and long
# after the notices were kept (hold_minutes 30).
TODAY = (datetime.now(UTC) + timedelta(days=1)).date()
LATER = datetime.combine(TODAY, time(13, 0), tzinfo=UTC)


@pytest.fixture
def live_config(tmp_path) -> dict[str, Any]:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    routing = (config / "routing.toml").read_text().replace("emails = []      #", 'emails = ["staff@x.example"]  #')
    (config / "routing.toml").write_text(routing)
    return {"BRIDGE_CONFIG_DIR": str(config), "TZ": "America/Argentina/Buenos_Aires"}


def _whatsapps(edge, prism) -> list[str]:
    return [
        parse_qs(call.request.body)["Body"][0] for call in edge.calls if call.request.url.startswith(prism.base_url)
    ]


def _notices(svc) -> list[ScheduledNotice]:
    with svc.db.session() as session:
        rows = session.scalars(select(ScheduledNotice).order_by(ScheduledNotice.id)).all()
        session.expunge_all()
        return list(rows)


def _invoice(**changes) -> dict[str, Any]:
    invoice = copy.deepcopy(load_sample("whmcs_api", "GetInvoice"))
    due = (TODAY - timedelta(days=10)).isoformat()
    invoice.update({"paymentmethod": "banktransfer", "duedate": due, **changes})
    return invoice


def _remind(live, run_worker, kind: str) -> None:
    app, panel, _, _ = live
    report = panel.run("InvoicePaymentReminder", f"InvoicePaymentReminder.{kind}")
    assert panel.spooled() == [], report
    run_worker(app)


def _day_pass(live, run_worker, now: datetime = LATER) -> notice_digest.DigestReport:
    svc = services(live[0])
    report = notice_digest.send_due_notices(svc, now)
    run_worker(live[0])
    return report


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("es", ["A-0088231", "$18.150,00", "10 días", "viewinvoice.php?id=88231"]),
        ("en", ["A-0088231", "ARS18,150.00", "10 days", "viewinvoice.php?id=88231"]),
    ],
)
def test_an_overdue_notice_reaches_the_client_on_whatsapp_once(language, expected, live, stand_in, prism, run_worker):
    _, _, inbox, edge = live
    stand_in.language = LANGUAGES[language]
    stand_in.answers["GetInvoice"] = _invoice()
    _remind(live, run_worker, "firstoverdue")
    _remind(live, run_worker, "firstoverdue")  # WHMCS sends it again
    assert _whatsapps(edge, prism) == []  # kept for the day's message, not sent at once

    report = _day_pass(live, run_worker)
    _day_pass(live, run_worker, now=LATER + timedelta(hours=1))  # the next pass: nothing more
    assert (report.clients, report.notices) == (1, 1)
    [text] = _whatsapps(edge, prism)
    for value in expected:
        assert value in text, (value, text)
    assert inbox.messages == []  # WHMCS emails it itself; routing may add the bridge's own


def test_a_reminder_and_an_overdue_notice_are_worded_apart(live, stand_in, prism, run_worker):
    _, _, _, edge = live
    stand_in.answers["GetInvoice"] = _invoice(duedate=(TODAY + timedelta(days=5)).isoformat())
    _remind(live, run_worker, "reminder")
    stand_in.answers["GetInvoice"] = _invoice(invoiceid="88232", invoicenum="A-0088232")
    _remind(live, run_worker, "thirdoverdue")
    _day_pass(live, run_worker)
    [text] = _whatsapps(edge, prism)  # both in one message
    reminder, overdue = (line for line in text.splitlines() if line.startswith("- "))
    assert "A-0088231" in reminder and format_date(TODAY + timedelta(days=5), "long", locale="es_AR") in reminder
    assert "A-0088232" in overdue and "suspen" in overdue.lower()


def test_an_invoice_the_card_will_pay_gets_no_reminder_unless_its_debit_was_rejected(live, stand_in, prism, run_worker):
    app, _, _, edge = live
    svc = services(app)
    stand_in.answers["GetInvoice"] = _invoice(paymentmethod="pagos360")
    _remind(live, run_worker, "reminder")
    [skipped] = [a for a in actions_of(svc, _last(svc)) if a.channel == "none"]
    assert "will be debited" in (skipped.last_error or "")

    with svc.db.session() as session:  # a signed adhesion: the cycle asks for every unpaid invoice
        session.add(CardAdhesion(pagos360_id="20871", whmcs_client_id="1042", state="signed", debit_day=11))
    stand_in.answers["GetInvoice"] = _invoice()
    _remind(live, run_worker, "firstoverdue")
    assert _notices(svc) == []

    debit_requested(svc, invoice_id="88231", cycle="2026-11", outcome="rejected")  # the cycle's, rejected
    _remind(live, run_worker, "secondoverdue")
    _day_pass(live, run_worker)
    [text] = _whatsapps(edge, prism)
    assert "A-0088231" in text and "tarjeta" in text


def _last(svc) -> int:
    with svc.db.engine.connect() as connection:
        return connection.exec_driver_sql("select max(id) from events").scalar()


# -- renewals -------------------------------------------------------------------------------


def _domain(domain_id: int, expires: date, **changes) -> dict[str, Any]:
    row = copy.deepcopy(load_sample("whmcs_api", "GetClientsDomains")["domains"]["domain"][1])
    row.update(id=str(domain_id), domainname=f"dominio{domain_id}.example", expirydate=expires.isoformat(), **changes)
    return row


def _service(service_id: int, due: date, **changes) -> dict[str, Any]:
    row = copy.deepcopy(load_sample("whmcs_api", "GetClientsProducts.nextduedate")["products"]["product"][1])
    row.update(id=str(service_id), nextduedate=due.isoformat(), **changes)
    return row


def _listing(outer: str, inner: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"result": "success", "totalresults": str(len(rows)), "numreturned": len(rows), outer: {inner: rows}}


@pytest.mark.parametrize(
    ("language", "words"),
    [("es", ["no se va a renovar", "renovación automática"]), ("en", ["will not be renewed", "auto-renew is off"])],
)
def test_the_days_renewals_and_a_reminder_go_as_one_message(language, words, live, stand_in, prism, run_worker):
    app, _, _, edge = live
    svc = services(app)
    stand_in.language = LANGUAGES[language]
    stand_in.answers["GetClientsDomains"] = _listing(
        "domains",
        "domain",
        [
            _domain(1, TODAY + timedelta(days=7), donotrenew="1"),  # auto-renew off: said plainly
            _domain(2, TODAY + timedelta(days=45)),  # beyond the first lead day: nothing yet
            _domain(3, TODAY + timedelta(days=1), status="Transferred Away"),  # skipped
        ],
    )
    stand_in.answers["GetClientsProducts"] = _listing(
        "products", "product", [_service(5588, TODAY + timedelta(days=30), paymentmethod="pagos360")]
    )
    stand_in.answers["GetInvoice"] = _invoice()
    _remind(live, run_worker, "firstoverdue")

    report = renewal_scan.run_renewal_scan(svc, TODAY)
    assert (report.items, report.notices) == ({"domain": 3, "service": 1}, 2)
    _day_pass(live, run_worker)
    [text] = _whatsapps(edge, prism)
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(lines) == 3, text
    assert any("dominio1.example" in line and all(w in line for w in words) for line in lines), lines
    assert any("Hosting Emprendedor" in line for line in lines), lines
    assert "dominio2" not in text and "dominio3" not in text


def test_a_scan_run_again_or_resumed_keeps_each_notice_once(live, stand_in, run_worker):
    svc = services(live[0])
    rows = [_domain(n, TODAY + timedelta(days=7)) for n in range(1, 6)]
    stand_in.answers["GetClientsDomains"] = _listing("domains", "domain", rows)
    stand_in.answers["GetClientsProducts"] = _listing("products", "product", [])
    first = renewal_scan.run_renewal_scan(svc, TODAY)
    again = renewal_scan.run_renewal_scan(svc, TODAY)
    assert (first.notices, again.notices, again.already) == (5, 0, 5)
    assert count(svc, ScheduledNotice) == 5


def test_a_day_missed_is_caught_up_once_unless_the_next_lead_day_has_come(live, stand_in, run_worker):
    svc = services(live[0])
    stand_in.answers["GetClientsProducts"] = _listing("products", "product", [])
    # Due on Dec 20: the 30-day notice was due on Nov 20, the bridge was down until Nov 23.
    stand_in.answers["GetClientsDomains"] = _listing("domains", "domain", [_domain(1, date(2026, 12, 20))])
    renewal_scan.run_renewal_scan(svc, date(2026, 11, 23))
    renewal_scan.run_renewal_scan(svc, date(2026, 11, 24))
    assert [n.key for n in _notices(svc)] == ["domain:1:2026-12-20:30"]
    # Down from Dec 10 to Dec 15: the 7-day notice of Dec 13 is caught up; the 30-day one not again.
    renewal_scan.run_renewal_scan(svc, date(2026, 12, 15))
    assert [n.key for n in _notices(svc)] == ["domain:1:2026-12-20:30", "domain:1:2026-12-20:7"]


def test_two_relays_at_once_tell_each_notice_once(live, stand_in, prism, run_worker):
    app, _, _, edge = live
    svc = services(app)
    stand_in.answers["GetClientsDomains"] = _listing("domains", "domain", [_domain(1, TODAY + timedelta(days=7))])
    stand_in.answers["GetClientsProducts"] = _listing("products", "product", [])
    renewal_scan.run_renewal_scan(svc, TODAY)
    reports: list[notice_digest.DigestReport] = []
    threads = [
        threading.Thread(target=lambda: reports.append(notice_digest.send_due_notices(svc, LATER))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_worker(app)
    assert sorted(r.notices for r in reports) == [0, 0, 0, 1]
    assert len(_whatsapps(edge, prism)) == 1
    assert count(svc, Event, Event.type == "ScheduledNotices") == 1


def test_the_relay_scans_once_a_day_after_the_hour_and_says_how_far_it_got(live, stand_in, run_worker):
    svc = services(live[0])
    stand_in.answers["GetClientsDomains"] = _listing("domains", "domain", [_domain(1, TODAY + timedelta(days=7))])
    stand_in.answers["GetClientsProducts"] = _listing("products", "product", [])
    early = datetime.combine(TODAY, time(11, 0), tzinfo=UTC)  # 08:00 in Buenos Aires: before send_hour
    assert renewal_scan.run_if_due(svc, early) is None
    assert renewal_scan.run_if_due(svc, LATER) is not None
    assert renewal_scan.run_if_due(svc, LATER + timedelta(hours=1)) is None  # done for today
    with svc.db.session() as session:
        run = session.scalar(select(ScheduledRun).where(ScheduledRun.name == "renewal-scan"))
        assert run is not None and run.finished_at is not None
        assert "1 domains and 0 services read in 2 WHMCS calls, 1 notices kept" in (run.summary or "")


def test_a_reminder_of_an_invoice_paid_before_the_days_message_is_dropped(live, stand_in, prism, run_worker):
    app, panel, _, edge = live
    svc = services(app)
    stand_in.answers["GetInvoice"] = _invoice()
    _remind(live, run_worker, "firstoverdue")
    assert len(_notices(svc)) == 1
    panel.run("InvoicePaid", "InvoicePaid")  # paid at eight; the day's message goes at nine
    run_worker(app)
    assert _notices(svc) == []
    told = len(_whatsapps(edge, prism))  # the payment receipt
    assert _day_pass(live, run_worker).notices == 0
    assert len(_whatsapps(edge, prism)) == told
