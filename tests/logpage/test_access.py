"""Access: nothing without a staff session, no POST without its CSRF token, the login
limit, cookie flags, security headers, and the secret key kept across restarts."""

from __future__ import annotations

import os
import stat

import pytest

from bridge.core.states import State
from bridge.logpage.security import CONTENT_SECURITY_POLICY
from bridge.services import services
from bridge.store.models import AuditEntry, LoginFailure
from tests.helpers import actions_of, count
from tests.logpage.conftest import EMAIL, PASSWORD, csrf_of, log_in

PAGES = ["/log/", "/log/?state=failed", "/log/events/{event}", "/log/chart", "/log/chart?range=7d", "/log/retry-failed"]
EXPORTS = ["/log/export.csv", "/log/export.xlsx"]
POSTS = [
    "/log/actions/{action}/reveal",
    "/log/actions/{action}/retry",
    "/log/events/{event}/replay",
    "/log/retry-failed",
    "/log/logout",
]


@pytest.fixture
def ids(seed, log_app):
    event_id = seed.event()
    [failed] = [a for a in actions_of(services(log_app), event_id) if a.state == State.FAILED]
    return {"event": event_id, "action": failed.id}


@pytest.mark.parametrize("path", PAGES + EXPORTS)
def test_every_page_and_export_needs_a_session(path, ids, log_app, staff):
    response = log_app.test_client().get(path.format(**ids))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/log/login?next=")
    assert "Lucía" not in response.text and "radioandina" not in response.text


@pytest.mark.parametrize("path", POSTS)
def test_every_form_needs_a_session(path, ids, log_app, staff):
    client = log_app.test_client()
    token = csrf_of(client.get("/log/login").text)  # a valid token, but no login
    response = client.post(path.format(**ids), data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/log/login")
    assert count(services(log_app), AuditEntry) == 0
    assert actions_of(services(log_app), ids["event"])[-1].state == State.FAILED


@pytest.mark.parametrize("path", POSTS)
def test_every_form_needs_its_csrf_token(path, ids, staff_client, log_app):
    response = staff_client.post(path.format(**ids), data={})
    assert response.status_code == 400
    assert "CSRF" in response.text
    response = staff_client.post(path.format(**ids), data={"csrf_token": "forged"})
    assert response.status_code == 400
    svc = services(log_app)
    assert count(svc, AuditEntry) == 0
    assert [a.state for a in actions_of(svc, ids["event"])].count(State.FAILED) == 1
    assert staff_client.get("/log/").status_code == 200  # still logged in: logout was refused too


def test_login_needs_its_csrf_token(log_app, staff):
    client = log_app.test_client()
    response = client.post("/log/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/log/").status_code == 302


def test_login_and_logout(log_app, staff):
    client = log_app.test_client()
    response = log_in(client)
    assert response.status_code == 302
    page = client.get("/log/")
    assert page.status_code == 200 and EMAIL in page.text
    client.post("/log/logout", data={"csrf_token": csrf_of(page.text)})
    assert client.get("/log/").status_code == 302


def test_wrong_password_and_unknown_account_are_refused_alike(log_app, staff):
    client = log_app.test_client()
    wrong = log_in(client, password="not the password")
    unknown = log_in(client, email="nobody@hosting.example")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password" in wrong.text and "Wrong email or password" in unknown.text
    assert client.get("/log/").status_code == 302


def test_login_limit_per_account_and_address(log_app, staff):
    client = log_app.test_client()
    for _ in range(5):
        assert log_in(client, password="guess guess guess").status_code == 401
    # The sixth try is refused even with the right password...
    limited = log_in(client)
    assert limited.status_code == 429
    assert "Too many failed logins" in limited.text
    assert client.get("/log/").status_code == 302
    # ...from that address; the same account from another address still logs in.
    other = log_app.test_client()
    page = other.get("/log/login", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    response = other.post(
        "/log/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert response.status_code == 302
    assert count(services(log_app), LoginFailure) == 5


def test_a_successful_login_clears_the_failures(log_app, staff):
    client = log_app.test_client()
    for _ in range(4):
        log_in(client, password="guess guess guess")
    assert log_in(client).status_code == 302
    assert count(services(log_app), LoginFailure) == 0


def test_no_open_redirect_after_login(log_app, staff):
    client = log_app.test_client()
    page = client.get("/log/login")
    response = client.post(
        "/log/login?next=//evil.example/x",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.headers["Location"] == "/log/"


def test_security_headers_and_cookie_flags(make_app, staff_client):
    response = staff_client.get("/log/")
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    login_page = staff_client.get("/log/login")
    assert "<script>" not in login_page.text and "style=" not in login_page.text

    https = make_app(PUBLIC_BASE_URL="https://bridge.example.com")
    client = https.test_client()
    page = client.get("/log/login")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_cookie_not_secure_over_plain_http(log_app, staff):
    cookie = log_app.test_client().get("/log/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secret_key_is_made_once_and_kept_private(make_app, tmp_path):
    first = make_app(INSTANCE_PATH=str(tmp_path / "inst"))
    key_file = tmp_path / "inst" / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    again = make_app(INSTANCE_PATH=str(tmp_path / "inst"))
    assert first.config["SECRET_KEY"] == again.config["SECRET_KEY"] == key_file.read_text().strip()
    given = make_app(INSTANCE_PATH=str(tmp_path / "inst"), SECRET_KEY="from-the-environment")
    assert given.config["SECRET_KEY"] == "from-the-environment"


def test_a_session_survives_a_restart(make_app, log_app, staff, tmp_path):
    client = log_app.test_client()
    log_in(client)
    restarted = make_app(INSTANCE_PATH=log_app.instance_path)
    cookie = client.get_cookie("session")
    other = restarted.test_client()
    other.set_cookie("session", cookie.value)
    assert other.get("/log/").status_code == 200
