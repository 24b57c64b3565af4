"""`next=` after a login: only a path on this site, or the list. Every vector is tried
through a real login (status, Location) and against the one function that decides."""

from __future__ import annotations

import pytest

from bridge.logpage.security import safe_next_path
from tests.logpage.conftest import EMAIL, PASSWORD, csrf_of

# As they appear in the login URL's query string (percent-encoded, as a link would carry them).
OFF_SITE = [
    "/%09/evil.example",  # a tab: browsers drop it, leaving //evil.example
    "/%0a/evil.example",  # a newline: the same, and an invalid Location header (was a 500)
    "/%0d%0a/evil.example",
    "/%0d/evil.example",
    "/%00/evil.example",
    "/%20/evil.example",
    "%20//evil.example",
    "/%E2%80%83/evil.example",  # an em space
    "//evil.example",
    "///evil.example",
    "//evil.example/log/",
    "/%5Cevil.example",  # /\evil.example: browsers read \ as /
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "https://evil.example/",
    "https:/evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "log/",
]
ON_SITE = [
    ("/log/", "/log/"),
    ("/log/events/12", "/log/events/12"),
    ("/log/%3Fstate%3Dfailed%26channel%3Demail", "/log/?state=failed&channel=email"),
    ("/log/%3Fq%3DLuc%C3%ADa", "/log/?q=Luc%C3%ADa"),  # Location is sent as a URI
    ("/log/chart%3Frange%3D7d", "/log/chart?range=7d"),
]


def _login_to(log_app, next_query: str):
    client = log_app.test_client()
    token = csrf_of(client.get("/log/login").text)
    return client.post(
        f"/log/login?next={next_query}", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    )


@pytest.mark.parametrize("next_query", OFF_SITE)
def test_an_off_site_next_falls_back_to_the_list(next_query, log_app, staff):
    response = _login_to(log_app, next_query)
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/log/"


@pytest.mark.parametrize(("next_query", "location"), ON_SITE)
def test_a_path_on_this_site_is_followed(next_query, location, log_app, staff):
    response = _login_to(log_app, next_query)
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == location


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "\t//evil.example",
        " //evil.example",
        "/\x00/evil.example",
        "/\x7f/evil.example",
        "/\u2003/evil.example",
        "/\u3000/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/log/\\..\\x",
        "https://evil.example",
        "HTTPS://evil.example",
        "http:evil.example",
        "data:text/html,x",
        "relative/path",
    ],
)
def test_the_deciding_function_refuses(target):
    assert safe_next_path(target) is None


def test_the_deciding_function_keeps_a_path_without_what_browsers_would_drop():
    assert safe_next_path("/log/?state=failed") == "/log/?state=failed"
    assert safe_next_path("/log/events/7#actions") == "/log/events/7#actions"
    assert safe_next_path("/log/\t?q=x") == "/log/?q=x"
