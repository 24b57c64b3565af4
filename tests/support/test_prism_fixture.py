"""Checks that the Prism-based Twilio double accepts what Twilio accepts and
rejects requests that violate Twilio's OpenAPI spec."""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .prism import (
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    PrismNotInstalled,
    PrismTwilio,
    find_prism,
)

twilio = pytest.importorskip("twilio")
from twilio.base.exceptions import TwilioRestException  # noqa: E402

WHATSAPP_TO = "whatsapp:+5493515551234"
WHATSAPP_FROM = "whatsapp:+14155238886"
CONTENT_SID = "HX" + "0123456789abcdef" * 2


@pytest.fixture(scope="module")
def prism():
    with PrismTwilio() as server:
        yield server


def raw_post(url, fields=None, *, auth=True, content_type="application/x-www-form-urlencoded", body=None, headers=None):
    """POST without the twilio library; returns (status, parsed JSON body)."""
    if body is None:
        body = urllib.parse.urlencode(fields or {}).encode()
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", content_type)
    req.add_header("Accept", "application/json")
    if auth:
        token = base64.b64encode(f"{TEST_ACCOUNT_SID}:{TEST_AUTH_TOKEN}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_missing_prism_names_install_script(monkeypatch, tmp_path):
    monkeypatch.setenv("PRISM_BIN", str(tmp_path / "nope" / "prism"))
    with pytest.raises(PrismNotInstalled, match=r"tools/install-test-tools\.sh"):
        find_prism()


def test_base_url(prism):
    assert prism.base_url == f"http://127.0.0.1:{prism.port}"


def test_whatsapp_body_message_accepted(prism):
    client = prism.twilio_client()
    msg = client.messages.create(to=WHATSAPP_TO, from_=WHATSAPP_FROM, body="hola")
    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    assert msg.status == "queued"
    method, url, data, status = client.http_client.exchanges[-1]
    assert (method, status) == ("POST", 201)
    assert url == prism.messages_url()
    assert data["To"] == WHATSAPP_TO and data["Body"] == "hola"


def test_whatsapp_content_template_message_accepted(prism):
    client = prism.twilio_client()
    msg = client.messages.create(
        to=WHATSAPP_TO,
        from_=WHATSAPP_FROM,
        content_sid=CONTENT_SID,
        content_variables=json.dumps({"1": "Lucía"}),
    )
    assert msg.sid.startswith("SM")
    assert client.http_client.exchanges[-1][3] == 201


def test_malformed_content_sid_rejected_via_twilio_lib(prism):
    client = prism.twilio_client()
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=WHATSAPP_TO, from_=WHATSAPP_FROM, content_sid="HX123")
    assert exc.value.status == 422


def test_bad_account_sid_rejected(prism):
    client = prism.twilio_client(account_sid="AC123")
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=WHATSAPP_TO, from_=WHATSAPP_FROM, body="hola")
    assert exc.value.status == 422


def test_raw_valid_request_accepted(prism):
    status, body = raw_post(prism.messages_url(), {"To": WHATSAPP_TO, "From": WHATSAPP_FROM, "Body": "hola"})
    assert status == 201, body
    assert body["sid"].startswith("SM")


def test_missing_to_rejected(prism):
    status, body = raw_post(prism.messages_url(), {"From": WHATSAPP_FROM, "Body": "hola"})
    assert status == 422
    assert body["type"].endswith("#UNPROCESSABLE_ENTITY")
    assert any("'To'" in v["message"] for v in body["validation"]), body


def test_json_body_rejected(prism):
    status, _ = raw_post(
        prism.messages_url(),
        content_type="application/json",
        body=json.dumps({"To": WHATSAPP_TO, "Body": "hola"}).encode(),
    )
    assert status == 415


def test_missing_basic_auth_rejected(prism):
    status, _ = raw_post(prism.messages_url(), {"To": WHATSAPP_TO, "Body": "hola"}, auth=False)
    assert status == 401


@pytest.mark.parametrize("code,twilio_code", [(429, 20429), (503, 20503)])
def test_error_status_can_be_forced(prism, code, twilio_code):
    client = prism.twilio_client(prefer=f"code={code}")
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=WHATSAPP_TO, from_=WHATSAPP_FROM, body="hola")
    assert exc.value.status == code
    assert exc.value.code == twilio_code


def test_forcing_undefined_status_is_404(prism):
    status, body = raw_post(prism.messages_url(), {"To": WHATSAPP_TO, "Body": "x"}, headers={"Prefer": "code=418"})
    assert status == 404 and "418" in body["detail"]
