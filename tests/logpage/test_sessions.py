"""Sessions end on the server: a logout, a new password (the command or the page), a
deactivated account and a revoked API token all take effect at the next request, even
for a copy of the cookie. A login starts a new Flask session with a new CSRF token."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.logpage.conftest import EMAIL, PASSWORD, cli, csrf_of, log_in

NEW_PASSWORD = "a much longer new one"


def logged_in(log_app, password: str = PASSWORD) -> FlaskClient:
    client = log_app.test_client()
    assert log_in(client, password=password).status_code == 302
    assert client.get("/log/").status_code == 200
    return client


def copy_of(log_app, client: FlaskClient) -> FlaskClient:
    """Another browser holding the same session cookie (a stolen or a kept copy)."""
    other = log_app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def is_logged_in(client: FlaskClient) -> bool:
    response = client.get("/log/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def session_of(log_app, client: FlaskClient) -> dict:
    cookie = client.get_cookie("session")
    return dict(log_app.session_interface.get_signing_serializer(log_app).loads(cookie.value))


def test_logout_ends_the_session_on_the_server(log_app, staff):
    client = logged_in(log_app)
    kept = copy_of(log_app, client)
    assert is_logged_in(kept)
    response = client.post("/log/logout", data={"csrf_token": csrf_of(client.get("/log/").text)})
    assert response.status_code == 302
    assert not is_logged_in(client)
    assert not is_logged_in(kept)  # the copy of the cookie died with the session


def test_a_login_starts_a_new_session_with_a_new_csrf_token(log_app, staff):
    client = log_app.test_client()
    before_token = csrf_of(client.get("/log/login").text)
    with client.session_transaction() as planted:  # whatever the cookie held before the login
        planted["chosen_by_someone_else"] = "fixed"
    before = session_of(log_app, client)
    response = client.post("/log/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": before_token})
    assert response.status_code == 302
    page = client.get("/log/")
    after = session_of(log_app, client)
    assert after["csrf_token"] != before["csrf_token"]
    assert "chosen_by_someone_else" not in after
    # The token of the login page (fixed before the login) is no good after it.
    refused = client.post("/log/logout", data={"csrf_token": before_token})
    assert refused.status_code == 400 and "CSRF" in refused.text
    assert is_logged_in(client)
    assert client.post("/log/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 302


def test_set_password_command_ends_every_session_of_the_account(log_app, staff):
    first, second = logged_in(log_app), logged_in(log_app)
    # Another account's session is left alone.
    assert cli(log_app, "create-staff", "bo@hosting.example", "--password", "bo's password 1").exit_code == 0
    bo_client = log_app.test_client()
    assert log_in(bo_client, "bo@hosting.example", "bo's password 1").status_code == 302

    result = cli(log_app, "set-password", "Ana@Hosting.example", "--password", NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert not is_logged_in(first) and not is_logged_in(second)
    assert is_logged_in(bo_client)
    assert log_in(log_app.test_client()).status_code == 401
    assert log_in(log_app.test_client(), password=NEW_PASSWORD).status_code == 302


def test_set_password_command_asks_twice_and_refuses_bad_input(log_app, staff):
    client = logged_in(log_app)
    mismatch = cli(log_app, "set-password", EMAIL, input=f"{NEW_PASSWORD}\nsomething else 123\n")
    assert mismatch.exit_code != 0
    assert cli(log_app, "set-password", EMAIL, "--password", "short").exit_code == 1
    unknown = cli(log_app, "set-password", "nobody@hosting.example", "--password", NEW_PASSWORD)
    assert unknown.exit_code == 1 and "no staff account" in unknown.output
    assert is_logged_in(client)  # nothing changed so far
    prompted = cli(log_app, "set-password", EMAIL, input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert not is_logged_in(client)
    assert log_in(log_app.test_client(), password=NEW_PASSWORD).status_code == 302


def _change(client: FlaskClient, current: str, new: str, again: str | None = None):
    page = client.get("/log/account/password")
    assert page.status_code == 200
    data = {"current": current, "new": new, "again": new if again is None else again}
    return client.post("/log/account/password", data={**data, "csrf_token": csrf_of(page.text)})


def test_a_new_password_on_the_page_ends_the_other_sessions(log_app, staff):
    client, elsewhere = logged_in(log_app), logged_in(log_app)
    kept = copy_of(log_app, client)

    assert _change(client, "not the password", NEW_PASSWORD).status_code == 401
    assert _change(client, PASSWORD, NEW_PASSWORD, again="a different one 123").status_code == 400
    assert _change(client, PASSWORD, "short").status_code == 400
    assert is_logged_in(elsewhere) and is_logged_in(kept)  # nothing changed so far

    response = _change(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/log/"
    assert is_logged_in(client)  # the browser that changed it goes on, on a new session
    assert not is_logged_in(elsewhere)
    assert not is_logged_in(kept)  # its own old cookie ended too
    assert log_in(log_app.test_client()).status_code == 401
    assert log_in(log_app.test_client(), password=NEW_PASSWORD).status_code == 302


def test_the_password_page_needs_a_session_and_its_csrf_token(log_app, staff):
    anonymous = log_app.test_client()
    assert anonymous.get("/log/account/password").headers["Location"].startswith("/log/login?next=")
    client = logged_in(log_app)
    data = {"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    assert client.post("/log/account/password", data=data).status_code == 400
    assert log_in(log_app.test_client()).status_code == 302  # the old password still works


def test_the_password_page_counts_wrong_passwords_as_the_login_does(log_app, staff):
    client = logged_in(log_app)
    for _ in range(5):
        assert _change(client, "not the password", NEW_PASSWORD).status_code == 401
    assert _change(client, PASSWORD, NEW_PASSWORD).status_code == 429
    assert log_in(log_app.test_client()).status_code == 429  # same account, same address


def test_a_deactivated_account_is_logged_out_at_the_next_request(log_app, staff):
    client = logged_in(log_app)
    result = cli(log_app, "deactivate-staff", EMAIL)
    assert result.exit_code == 0, result.output
    assert not is_logged_in(client)
    assert log_in(log_app.test_client()).status_code == 401
    assert cli(log_app, "deactivate-staff", "nobody@hosting.example").exit_code == 1

    assert cli(log_app, "activate-staff", EMAIL).exit_code == 0
    assert not is_logged_in(client)  # an ended session stays ended
    assert is_logged_in(logged_in(log_app))


def test_a_revoked_api_token_is_refused_at_the_next_request(log_app, staff):
    monitoring = cli(log_app, "create-api-token", "monitoring").output.strip()
    backup = cli(log_app, "create-api-token", "backup").output.strip()
    client = log_app.test_client()

    def status(token: str) -> int:
        return client.get("/api/events", headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(monitoring) == status(backup) == 200
    result = cli(log_app, "revoke-api-token", "monitoring")
    assert result.exit_code == 0 and "revoked 1" in result.output
    assert status(monitoring) == 401
    assert status(backup) == 200
    again = cli(log_app, "revoke-api-token", "monitoring")
    assert again.exit_code == 1 and "no live API token" in again.output

    listed = cli(log_app, "list-api-tokens")
    assert listed.exit_code == 0
    lines = {line.split()[1]: line for line in listed.output.splitlines()}
    assert "revoked" in lines["monitoring"] and lines["backup"].endswith("live")
    assert monitoring not in listed.output and backup not in listed.output
