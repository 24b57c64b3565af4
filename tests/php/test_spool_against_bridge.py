"""The hook file's spool against the real bridge served over HTTP (SQLite or PostgreSQL).

The bridge's own refusals: a signature it does not accept (a secret that differs) keeps the
events spooled until it is fixed; a body larger than it takes is kept in rejected/ at once,
and the event behind it still arrives.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator

import pytest

from bridge.services import services
from tests.helpers import SECRET, load_sample, serve_app, wait_until_healthy
from tests.php.panel import Panel, closed_port_url

# Left out of `make check`: PHP's hook file against the bridge served over HTTP.
pytestmark = pytest.mark.slow


@pytest.fixture
def bridge_url(make_app) -> Iterator[str]:
    app = make_app(MAX_BODY_BYTES=4096)
    with serve_app(app) as url:
        # Warm up outside the hook's 2-second timeout: the first request and the first
        # database connection are slow on a busy machine, and a timeout counts as a failure.
        wait_until_healthy(url)
        with services(app).db.engine.connect():
            pass
        yield url


@pytest.fixture
def panel(tmp_path, bridge_url) -> Panel:
    panel = Panel(tmp_path)
    panel.secret = SECRET
    panel.url = bridge_url
    return panel


def stored_events(make_app) -> list[tuple[str, str]]:
    with services(make_app.last).db.engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql("select external_id, type from events order by id")]


def test_a_secret_that_differs_keeps_the_events_until_it_is_fixed(panel, make_app):
    panel.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()  # not the bridge's
    first = panel.run("ClientAdd", "ClientAdd")
    panel.run("InvoicePaid", "InvoicePaid")
    spooled = panel.spooled_ids()
    assert len(spooled) == 2
    [line] = first["activity_log"]
    assert "HTTP 401" in line and "signature check failed" in line and "WHMCS_WEBHOOK_SECRET" in line

    for _ in range(3):
        report = panel.run("AfterCronJob", WHATSAPP_BRIDGE_SPOOL_MAX_ATTEMPTS="1")
        assert any("WHMCS_WEBHOOK_SECRET" in line and "stay in the spool" in line for line in report["activity_log"])
    assert panel.spooled_ids() == spooled and panel.rejected() == []
    assert stored_events(make_app) == []

    panel.secret = SECRET
    panel.run("AfterCronJob")
    assert panel.spooled() == []
    assert stored_events(make_app) == [(spooled[0], "ClientAdd"), (spooled[1], "InvoicePaid")]


def test_a_body_too_large_is_kept_in_rejected_and_the_next_event_arrives(panel, make_app):
    too_large = {**load_sample("whmcs_hooks", "ClientEdit"), "companyname": "x" * 5000}
    up = panel.url
    panel.url = closed_port_url()  # the bridge is down meanwhile
    panel.run("ClientEdit", too_large)
    panel.run("InvoicePaid", "InvoicePaid")
    big, good = panel.spooled_ids()

    panel.url = up
    report = panel.run("AfterCronJob")
    assert stored_events(make_app) == [(good, "InvoicePaid")]
    assert panel.spooled() == []
    [kept] = panel.rejected()
    stored = json.loads(kept.read_text())
    assert stored["id"] == big and "HTTP 413" in stored["rejected"]["reason"]
    assert any("ClientEdit event " + big in line and "HTTP 413" in line for line in report["activity_log"])
    assert any("rejected/ holds 1" in line for line in report["activity_log"])
