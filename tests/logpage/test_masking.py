"""Recipients masked wherever staff see them: the event page (errors, attempts, state
history, skipped Actions, payload, staff actions), the CSV and XLSX exports and the JSON
API; the audited reveal is the one way to see one in full.

Twilio is outside this machine: it answers at the HTTP edge (`responses`) with its real
21211 error shape, whose message quotes the full number."""

from __future__ import annotations

import csv
import html
import io
import json

import pytest
import responses
from openpyxl import load_workbook

from bridge.core.masking import mask_recipient
from bridge.core.states import State
from bridge.services import services
from tests.helpers import actions_of, load_sample
from tests.logpage.conftest import EMAIL, cli, closed_port, csrf_of

# Free-form messages to the sample client go: they wrote within the last 24 hours.
pytestmark = pytest.mark.usefixtures("the_customer_wrote")

SID = "AC" + "7" * 32
MESSAGES_URL = f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json"
NUMBER = "+5493515551234"  # the sample client's, as stored
# Every way the sample client's number and address could leak, and the second address of a
# hostile email field.
LEAKS = ("5493515551234", "3515551234", "5551234", "555-1234", "555 1234", "lucia@radioandina.example", "intruso@")


@pytest.fixture
def log_app(make_app):
    """WhatsApp through Twilio (answered at the edge), email failing against a closed port."""
    return make_app(
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN="test-token",
        TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
        TWILIO_API_BASE="https://twilio.test",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=closed_port(),
        SMTP_STARTTLS=False,
        RETRY_MAX_ATTEMPTS=1,
    )


@pytest.fixture
def twilio_refuses_the_number():
    error = load_sample("twilio", "error.21211")
    error["message"] = error["message"].replace("whatsapp:+5411", f"whatsapp:{NUMBER}")  # as Twilio quotes it
    with responses.RequestsMock() as edge:
        edge.post(MESSAGES_URL, json=error, status=400)
        yield


@pytest.fixture
def events(seed, twilio_refuses_the_number, log_app):
    """One event whose WhatsApp Twilio refused quoting the number and whose payload carries
    the number as JSON numbers too; one whose email field holds two addresses (skipped,
    the reason naming them) and whose phone is unusable (skipped, the reason quoting it)."""
    params = load_sample("whmcs_hooks", "ClientAdd")
    refused = seed.event("ClientAdd", {**params, "mobile": 5493515551234, "contact_number": 5493515551234})
    hostile = {**params, "email": "lucia@radioandina.example, intruso@evil.example", "phonenumber": "351 555 12"}
    skipped = seed.event("ClientAdd", hostile)
    svc = services(log_app)
    whatsapp, _ = actions_of(svc, refused)
    assert whatsapp.state == State.FAILED and NUMBER in whatsapp.last_error  # what Twilio said, stored in full
    phone_skip, email_skip = actions_of(svc, skipped)
    assert phone_skip.state == email_skip.state == State.SKIPPED and "351 555 12" in phone_skip.last_error
    assert "intruso@evil.example" in email_skip.last_error
    return refused, skipped


def _leaked(text: str) -> list[str]:
    return [leak for leak in LEAKS if leak in text]


def test_the_event_page_masks_errors_reasons_attempts_skips_and_payload(staff_client, events):
    refused, skipped = events
    page = html.unescape(staff_client.get(f"/log/events/{refused}").text)
    assert _leaked(page) == []
    # Still readable: what Twilio said, with the number masked, in the error, the attempt
    # and the state history's reason; the payload's numbers masked as text.
    assert page.count("The 'To' number whatsapp:+549351*****34 is not a valid phone number.") == 3
    assert '"mobile": "549351*****34"' in page and '"contact_number": "549351*****34"' in page

    page = html.unescape(staff_client.get(f"/log/events/{skipped}").text)
    assert _leaked(page) == [] and "351 555 12" not in page
    assert "no usable WhatsApp number in '3** *** 12'" in page  # the skip reason, masked
    assert "l***@radioandina.example, i***@evil.example" in page  # the skipped email's recipient and reason


def test_exports_and_the_api_mask_the_same_way(staff_client, events, log_app):
    csv_text = staff_client.get("/log/export.csv").text
    assert _leaked(csv_text) == [], csv_text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    whatsapp = next(r for r in rows if r["channel"] == "whatsapp" and r["state"] == "failed")
    assert "whatsapp:+549351*****34" in whatsapp["last_error"] and whatsapp["recipient"] == "'+54 9 351 ***-**34"

    sheet = load_workbook(io.BytesIO(staff_client.get("/log/export.xlsx").data)).active
    cells = " ".join(str(v) for row in sheet.values for v in row if v is not None)
    assert _leaked(cells) == [] and "whatsapp:+549351*****34" in cells

    token = cli(log_app, "create-api-token", "scripts").output.strip()
    answer = log_app.test_client().get("/api/actions?limit=50", headers={"Authorization": f"Bearer {token}"})
    text = json.dumps(answer.json, ensure_ascii=False)
    assert _leaked(text) == [], text
    assert "whatsapp:+549351*****34" in text and "3** *** 12" in text


def test_a_reveal_is_the_one_way_to_the_number(staff_client, events, log_app):
    refused, _ = events
    whatsapp, _ = actions_of(services(log_app), refused)
    page = staff_client.get(f"/log/events/{refused}").text
    revealed = html.unescape(
        staff_client.post(f"/log/actions/{whatsapp.id}/reveal", data={"csrf_token": csrf_of(page)}).text
    )
    assert '<span class="recipient revealed">+54 9 351 555-1234</span>' in revealed
    assert "lucia@radioandina.example" not in revealed  # only the Action asked for
    assert f"{EMAIL}: reveal action {whatsapp.id}" in revealed  # and it is recorded


@pytest.mark.parametrize(
    ("recipient", "channel", "shown"),
    [
        ("+5493515551234", "whatsapp", "+54 9 351 ***-**34"),
        ("0351 15 555-1234", "whatsapp", "0351 15 ***-**34"),  # a skipped one keeps the raw field
        ("a@x.example; b@evil.example", "email", "a***@x.example; b***@evil.example"),
        ("lucia.radioandina.example", "email", "l***"),  # no usable address, still the client's
        ("invoice 1234567", "whmcs_payment", "invoice 1234567"),  # the company's records, not contacts
        ("12345678", "pagos360_debit", "12345678"),
        ("hooks", "plan", "hooks"),
        ("-", "whatsapp", "-"),
    ],
)
def test_recipients_are_masked_by_what_their_channel_carries(recipient, channel, shown):
    assert mask_recipient(recipient, channel) == shown
