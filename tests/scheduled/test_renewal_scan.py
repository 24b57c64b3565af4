"""The renewal scan against a WHMCS that pages its lists (WHMCS's API at the HTTP edge)."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select

from bridge.scheduled.renewal_scan import PAGE, run_renewal_scan
from bridge.services import services
from bridge.store.models import Event, ScheduledNotice
from tests.helpers import count, load_sample
from tests.support.whmcs_stand_in import API_URL, SETTINGS

TODAY = date(2026, 11, 20)


class PagedWhmcs:
    """GetClientsDomains and GetClientsProducts over `domains` and `services` items, PAGE at a
    time as WHMCS pages them (limitstart, limitnum, totalresults); `fail_from` makes the call
    at that offset answer 503, as WHMCS behind a proxy in maintenance."""

    def __init__(self, domains: int, services: int) -> None:
        template = load_sample("whmcs_api", "GetClientsDomains")["domains"]["domain"][1]
        self.domains = [
            {
                **copy.deepcopy(template),
                "id": str(n),
                "userid": str(1000 + n % 7),
                "domainname": f"d{n}.example",
                "expirydate": (TODAY + timedelta(days=7 if n % 2 else 40)).isoformat(),
            }
            for n in range(domains)
        ]
        service = load_sample("whmcs_api", "GetClientsProducts.nextduedate")["products"]["product"][1]
        self.services = [
            {
                **copy.deepcopy(service),
                "id": str(n),
                "clientid": str(1000 + n % 7),
                "nextduedate": (TODAY + timedelta(days=1)).isoformat(),
            }
            for n in range(services)
        ]
        self.calls: list[tuple[str, int]] = []
        self.fail_from: int | None = None

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        import json

        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        start, size = int(form.get("limitstart", 0)), int(form.get("limitnum", 25))
        self.calls.append((form["action"], start))
        if self.fail_from is not None and form["action"] == "GetClientsDomains" and start >= self.fail_from:
            return 503, {"Content-Type": "text/html"}, "<html>maintenance</html>"
        rows, outer, inner = (
            (self.domains, "domains", "domain")
            if form["action"] == "GetClientsDomains"
            else (self.services, "products", "product")
        )
        page = rows[start : start + size]
        answer = {"result": "success", "totalresults": str(len(rows)), "startnumber": start, "numreturned": len(page)}
        answer[outer] = {inner: page} if page else ""
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)


@pytest.fixture
def whmcs():
    stand_in = PagedWhmcs(domains=PAGE * 2 + 10, services=30)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as edge:
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        yield stand_in


def test_the_scan_pages_through_every_domain_and_service(make_app, whmcs):
    svc = services(make_app(**SETTINGS))
    report = run_renewal_scan(svc, TODAY)
    assert report.items == {"domain": PAGE * 2 + 10, "service": 30}
    assert [start for action, start in whmcs.calls if action == "GetClientsDomains"] == [0, PAGE, PAGE * 2]
    # Half the domains expire in 7 days (the 7-day notice), half in 40 (none yet); every
    # service renews tomorrow (the 1-day notice).
    assert report.notices == (PAGE * 2 + 10) // 2 + 30 == count(svc, ScheduledNotice)
    assert report.calls == 4 and report.errors == []
    # On the delivery log, and in the metrics while the notices wait for the day's message.
    from bridge.ops.metrics_collector import StateCollector

    with svc.db.session() as session:
        logged = session.scalar(select(Event).where(Event.type == "RenewalScan"))
        assert logged is not None and logged.payload["notices"] == report.notices
    [waiting] = [m for m in StateCollector(svc).collect() if m.name == "bridge_scheduled_notices_waiting"]
    assert waiting.samples[0].value == report.notices


def test_a_scan_that_dies_half_way_resumes_without_telling_twice(make_app, whmcs):
    svc = services(make_app(**SETTINGS))
    whmcs.fail_from = PAGE  # the second page of domains fails
    first = run_renewal_scan(svc, TODAY)
    assert first.errors and first.notices == PAGE // 2 + 30
    whmcs.fail_from = None
    second = run_renewal_scan(svc, TODAY)  # the relay's next pass runs it again
    assert second.errors == [] and second.already == PAGE // 2 + 30
    assert count(svc, ScheduledNotice) == (PAGE * 2 + 10) // 2 + 30


def test_the_scan_runs_by_hand_from_the_command_line(make_app, whmcs):
    app = make_app(**SETTINGS)
    with app.app_context():  # as `flask --app wsgi renewal-scan` runs it
        result = app.test_cli_runner().invoke(args=["renewal-scan", "--date", "2026-11-20"])
    assert result.exit_code == 0, result.output
    assert f"{PAGE * 2 + 10} domains and 30 services read in 4 WHMCS calls" in result.output
