"""Failed actions reach the staff in one email per batch."""

from __future__ import annotations

import shutil

import pytest
import responses
from sqlalchemy import select

from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.scheduled.dead_letters import report_dead_letters
from bridge.services import services
from bridge.store.models import Event
from tests.helpers import actions_of
from tests.support.smtp_server import smtp_server

# Free-form messages to the sample client go: they wrote within the last 24 hours.
pytestmark = pytest.mark.usefixtures("the_customer_wrote")

SID = "AC" + "5" * 32
STAFF = "guardia@tuhosting.example"


@pytest.fixture
def staffed(make_app, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    routing = (config / "routing.toml").read_text().replace("emails = []      #", f'emails = ["{STAFF}"]  #')
    (config / "routing.toml").write_text(routing)

    def build(**extra):
        return make_app(BRIDGE_CONFIG_DIR=str(config), PUBLIC_BASE_URL="https://bridge.example", **extra)

    return build


def test_three_failures_make_one_email_and_are_not_reported_twice(staffed, post_event, run_worker):
    with smtp_server() as (inbox, port):
        app = staffed(
            TWILIO_ACCOUNT_SID=SID,
            TWILIO_AUTH_TOKEN="t",
            TWILIO_WHATSAPP_FROM="+14155238886",
            TWILIO_API_BASE="https://twilio.test",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=port,
            SMTP_STARTTLS=False,
        )
        svc = services(app)
        with responses.RequestsMock() as edge:
            edge.post(
                f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json",
                json={"code": 21211, "message": "The 'To' number whatsapp:+5493515551234 is not valid.", "status": 400},
                status=400,
            )
            for _ in range(3):
                post_event("ClientAdd")
                run_worker(app)
        assert report_dead_letters(svc) == 3
        assert report_dead_letters(svc) == 0  # nothing new since the batch
        run_worker(app)
    [alert] = [m for m in inbox.messages if m["To"] == STAFF]
    assert alert["Subject"] == "[bridge] 3 failed actions"
    text = alert.get_content()
    assert text.count("(whatsapp, clients.welcome): permanent error: Twilio refused the message") == 3
    assert "https://bridge.example/log/?state=failed" in text
    assert "5493515551234" not in text and text.count("whatsapp:+549351*****34") == 3  # masked as on the page


def test_a_failed_report_is_not_reported_again(staffed, post_event, run_worker):
    app = staffed(SMTP_HOST="127.0.0.1", SMTP_PORT=1, SMTP_STARTTLS=False, RETRY_MAX_ATTEMPTS=1)  # SMTP unreachable
    svc = services(app)
    post_event("ClientAdd")
    run_worker(app)  # the welcome email fails (its only attempt)
    assert report_dead_letters(svc) == 1
    run_worker(app)  # the report's own email fails too
    assert report_dead_letters(svc) == 0
    with svc.db.session() as session:
        batches = session.scalars(select(Event).where(Event.type == "DeadLetters")).all()
    [batch] = batches  # one report, and its own failure did not start another
    [report_email] = actions_of(svc, batch.id)
    assert report_email.state == "failed" and report_email.recipient == STAFF
