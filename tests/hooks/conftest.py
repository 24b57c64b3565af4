"""The live bridge the event tests drive: every provider real, WHMCS at the HTTP edge."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from tests.helpers import SECRET, serve_app
from tests.php.panel import Panel
from tests.support.prism import TEST_ACCOUNT_SID, PrismTwilio
from tests.support.smtp_server import smtp_server
from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn


@pytest.fixture
def live_config() -> dict[str, Any]:
    """Settings the live bridge adds to its own (a test module overrides it, e.g. with a
    BRIDGE_CONFIG_DIR whose routing names staff)."""
    return {}


@pytest.fixture(scope="module")
def prism() -> Iterator[PrismTwilio]:
    with PrismTwilio() as server:
        yield server


@pytest.fixture
def stand_in() -> WhmcsStandIn:
    return WhmcsStandIn()


@pytest.fixture
def live(prism, make_app, stand_in, tmp_path, live_config):
    """The bridge over HTTP with every provider real, and a panel pointed at it."""
    with smtp_server() as (inbox, smtp_port), responses.RequestsMock(assert_all_requests_are_fired=False) as edge:
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        # Passed through to Prism, and recorded: the test reads what reached "Twilio".
        edge.add(responses.PassthroughResponse(responses.POST, re.compile(re.escape(prism.base_url) + "/.*")))
        app = make_app(
            **SETTINGS,
            TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN="prism-accepts-any-token",
            TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
            TWILIO_API_BASE=prism.base_url,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp_port,
            SMTP_STARTTLS=False,
            **live_config,
        )
        with serve_app(app) as url:
            panel = Panel(tmp_path)
            panel.secret = SECRET
            panel.url = url
            yield app, panel, inbox, edge
