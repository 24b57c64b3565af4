"""The WHMCS API client: errors inside HTTP 200 answers, and at the HTTP level."""

from __future__ import annotations

import pytest
import requests
import responses

from providers.base import ProviderError
from providers.whmcs_api import OUTCOME_UNKNOWN, NotFound, WhmcsApi

URL = "https://panel.example/includes/api.php"


def api(**kw):
    return WhmcsApi(url="https://panel.example/", identifier="id", secret="s", **kw)


def test_the_endpoint_is_built_from_the_base_url_or_taken_as_given():
    assert api().endpoint == URL
    assert WhmcsApi(url=URL, identifier="i", secret="s").endpoint == URL


@responses.activate
def test_success_returns_the_decoded_answer():
    responses.post(URL, json={"result": "success", "clientid": "1042"})
    assert api().call("UpdateClient", clientid=1042)["clientid"] == "1042"
    sent = responses.calls[0].request.body
    assert "action=UpdateClient" in sent and "responsetype=json" in sent and "identifier=id" in sent


@pytest.mark.parametrize(
    "message", ["Client Not Found", "Invoice ID Not Found", "Quote ID Not Found", "Invalid Client ID"]
)
@responses.activate
def test_missing_records_are_not_found_and_skip(message):
    responses.post(URL, json={"result": "error", "message": message})
    with pytest.raises(NotFound) as caught:
        api().call("GetClientsDetails", clientid=9)
    assert caught.value.permanent and caught.value.skip


@pytest.mark.parametrize(
    ("kwargs", "permanent"),
    [
        ({"json": {"result": "error", "message": "Authentication Failed"}}, True),
        (
            {
                "json": {
                    "result": "error",
                    "message": "It is not possible to add a payment to an invoice that is Cancelled",
                }
            },
            True,
        ),
        ({"status": 500, "body": "oops"}, False),
        ({"status": 429, "body": "slow down"}, False),
        ({"status": 403, "body": "forbidden"}, True),
        ({"body": "<html>Down for maintenance</html>"}, False),
        ({"body": requests.ReadTimeout("read timed out")}, False),
        ({"body": requests.ConnectionError("refused")}, False),
    ],
    ids=["auth", "business-error", "500", "429", "403", "html", "timeout", "refused"],
)
@responses.activate
def test_errors_say_whether_a_retry_can_help(kwargs, permanent):
    responses.post(URL, **kwargs)
    with pytest.raises(ProviderError) as caught:
        api().call("GetInvoice", invoiceid=1)
    assert caught.value.permanent is permanent and not caught.value.skip


@pytest.mark.parametrize(
    ("kwargs", "unknown"),
    [
        ({"body": requests.ConnectTimeout("no connection")}, False),  # never reached WHMCS
        ({"status": 503, "body": "<html>Service Unavailable</html>"}, False),  # the proxy said no
        ({"json": {"result": "error", "message": "Invalid Payment Gateway"}}, False),  # WHMCS said no
        ({"body": requests.ReadTimeout("read timed out")}, True),
        ({"body": requests.ConnectionError("connection reset")}, True),
        ({"status": 500, "body": "oops"}, True),
        ({"status": 502, "body": "bad gateway"}, True),
        ({"body": 'PHP Warning: ... {"result":"success"}'}, True),  # WHMCS ran, its answer is garbled
    ],
    ids=["connect-timeout", "503", "whmcs-error", "read-timeout", "reset", "500", "502", "not-json"],
)
@responses.activate
def test_a_failure_after_which_whmcs_may_have_acted_says_so(kwargs, unknown):
    """A payment must not be sent again after one of these, and may be after the others."""
    responses.post(URL, **kwargs)
    with pytest.raises(ProviderError) as caught:
        api().call("AddInvoicePayment", invoiceid=1, transid="553201")
    assert (caught.value.code == OUTCOME_UNKNOWN) is unknown
