"""The events list: newest first, filters in the URL, one search box, counts by state,
keyset pages that neither skip nor repeat, and a refresh that keeps the filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bridge.core.states import State
from bridge.services import services
from bridge.store.models import Action, Event
from tests.helpers import actions_of, load_sample

EVENT_ROW = re.compile(r'data-event-id="(\d+)"')


def listed(client, query: str = "") -> list[int]:
    response = client.get(f"/log/{query}")
    assert response.status_code == 200, response.text
    return [int(i) for i in EVENT_ROW.findall(response.text)]


def other_client(name: str = "Marco", email: str = "marco@ejemplo.example", phone: str = "0261 15 444-9876") -> dict:
    params = load_sample("whmcs_hooks", "ClientAdd")
    return {**params, "userid": 2001, "client_id": 2001, "firstname": name, "lastname": "Rossi", "email": email,
            "phonenumber": phone, "companyname": "", "city": "Mendoza"}  # fmt: skip


def test_newest_first_with_actions_and_client(staff_client, seed):
    first = seed.event()
    second = seed.event("ClientChangePassword")
    assert listed(staff_client) == [second, first]
    page = staff_client.get("/log/").text
    assert "Lucía Fernández (Radio Andina FM)" in page
    assert 'whatsapp <span class="state st-sent">sent (dry run)</span>' in page
    assert 'email <span class="state st-failed">failed</span>' in page


def test_filters_live_in_the_url(staff_client, seed, log_app):
    lucia = seed.event()
    marco = seed.event("ClientAdd", other_client())
    svc = services(log_app)
    with svc.db.session() as session:  # a Pagos360 event, stored as its webhook would
        pagos = Event(source="pagos360", type="adhesion.signed", external_id="n-1", client_id="1042", payload={})
        session.add(pagos)
        session.flush()
        pagos_id = pagos.id
    assert listed(staff_client, "?source=pagos360") == [pagos_id]
    assert listed(staff_client, "?source=whmcs") == [marco, lucia]
    assert listed(staff_client, "?type=ClientAdd&client_id=2001") == [marco]
    assert listed(staff_client, "?client_id=1042") == [pagos_id, lucia]
    assert listed(staff_client, "?state=failed&channel=email") == [marco, lucia]
    assert listed(staff_client, "?state=failed&channel=whatsapp") == []
    today = datetime.now(svc.settings.tz).date()
    assert listed(staff_client, f"?since={today}&until={today}") == [pagos_id, marco, lucia]
    assert listed(staff_client, f"?until={today - timedelta(days=1)}") == []
    # The form shows what is applied, and the export links carry it.
    page = staff_client.get("/log/?state=failed&client_id=2001").text
    assert '<option value="failed" selected>' in page
    assert 'value="2001"' in page
    assert "/log/export.csv?state=failed&amp;client_id=2001" in page
    # A stale or malformed filter is ignored rather than refused.
    assert listed(staff_client, "?state=bogus&since=yesterday") == [pagos_id, marco, lucia]


def test_search_finds_a_message_by_anything_staff_know(staff_client, seed, log_app):
    lucia = seed.event()
    marco = seed.event("ClientAdd", other_client())
    svc = services(log_app)
    [whatsapp] = [a for a in actions_of(svc, lucia) if a.channel == "whatsapp"]
    searches = {
        "Lucía": [lucia],
        "lucía fernández": [lucia],
        "Rossi": [marco],
        "marco@ejemplo.example": [marco],
        "radioandina": [lucia],
        "0351 15 555-1234": [lucia],  # as the customer says it
        "+54 9 261 444-9876": [marco],  # as WhatsApp shows it
        str(marco): [marco],  # the event id
        whatsapp.provider_ref: [lucia],  # the message sid
        "Mendoza": [marco],
        "nothing-like-this": [],
    }
    for query, expected in searches.items():
        assert listed(staff_client, f"?q={query.replace('+', '%2B')}") == expected, query


def test_search_by_invoice_number(staff_client, seed):
    seed.event()
    invoice = seed.event("InvoiceCreated")  # without the WHMCS API: the invoice id is in the event
    params = load_sample("whmcs_hooks", "InvoiceCreated")
    assert listed(staff_client, f"?q={params['invoiceid']}") == [invoice]


def test_counts_by_state_follow_the_other_filters(staff_client, seed):
    seed.event()
    seed.event("ClientAdd", other_client())
    page = staff_client.get("/log/?client_id=2001&state=sent").text
    counts = dict(re.findall(r'st-(\w+)">\w+</span> <b>(\d+)</b>', page))
    assert counts == {"sent": "2", "failed": "1"}  # the planning and the WhatsApp; the email


def test_keyset_pages_neither_skip_nor_repeat(staff_client, log_app):
    svc = services(log_app)
    same_moment = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    with svc.db.session() as session:
        for i in range(130):
            # Ties on received_at are broken by id: 60 share one instant.
            when = same_moment if i < 60 else same_moment + timedelta(minutes=i)
            event = Event(source="whmcs", type="ClientAdd", external_id=f"k-{i}", payload={}, received_at=when)
            session.add(event)
            session.flush()
            session.add(Action(event_id=event.id, hook="t", channel="email", recipient="x@y.example", content={},
                               state=State.FAILED if i % 2 else State.SENT))  # fmt: skip
    seen: list[int] = []
    url = "/log/"
    while url:
        response = staff_client.get(url)
        seen.extend(int(i) for i in EVENT_ROW.findall(response.text))
        match = re.search(r'rel="next" href="([^"]+)"', response.text)
        url = match.group(1).replace("&amp;", "&") if match else ""
    with svc.db.session() as session:
        expected = [e.id for e in session.query(Event).order_by(Event.received_at.desc(), Event.id.desc())]
    assert seen == expected and len(seen) == 130
    # Filtered pages keep the filter in the next link.
    first = staff_client.get("/log/?state=failed").text
    assert re.search(r'rel="next" href="/log/\?before=[^"]+state=failed"', first)


def test_the_page_refreshes_itself_keeping_the_url(staff_client, make_app, staff):
    page = staff_client.get("/log/?state=failed").text
    assert 'data-refresh="30"' in page
    assert '<script src="/log/static/log.js" defer></script>' in page
    script = staff_client.get("/log/static/log.js")
    assert script.status_code == 200 and "location.reload()" in script.text
