"""Fixtures for the delivery log: a staff account, a logged-in client, and events made
through the real webhook and worker (email failing against a closed SMTP port)."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.inbound.signing import signed_request
from bridge.logpage.auth import create_staff
from bridge.services import services
from tests.helpers import SECRET, load_sample

EMAIL = "ana@hosting.example"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def log_app(make_app) -> Flask:
    """The bridge with WhatsApp as a dry run (sent) and email failing at once (one attempt)."""
    return make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=closed_port(), SMTP_STARTTLS=False, RETRY_MAX_ATTEMPTS=1)


@pytest.fixture
def staff(log_app: Flask) -> tuple[str, str]:
    create_staff(services(log_app).db, EMAIL, PASSWORD)
    return EMAIL, PASSWORD


def log_in(client: FlaskClient, email: str = EMAIL, password: str = PASSWORD) -> Any:
    page = client.get("/log/login")
    return client.post("/log/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)})


def log_in_from(
    client: FlaskClient, password: str = PASSWORD, forwarded_for: str | None = None, peer: str = "127.0.0.1"
) -> int:
    """A login as it reaches the web server: from `peer`, with the X-Forwarded-For it carries."""
    environ = {"REMOTE_ADDR": peer}
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    token = csrf_of(client.get("/log/login", environ_base=environ, headers=headers).text)
    data = {"email": EMAIL, "password": password, "csrf_token": token}
    return client.post("/log/login", data=data, environ_base=environ, headers=headers).status_code


@pytest.fixture
def staff_client(log_app: Flask, staff: tuple[str, str]) -> FlaskClient:
    client = log_app.test_client()
    response = log_in(client)
    assert response.status_code == 302, response.text
    return client


@dataclass
class Seeder:
    app: Flask
    run_worker: Callable[..., int]

    def event(self, event: str = "ClientAdd", params: dict[str, Any] | None = None, *, work: bool = True) -> int:
        """Post a signed WHMCS event to the real webhook; run the worker until all is done."""
        params = params if params is not None else load_sample("whmcs_hooks", event)
        body, headers = signed_request(SECRET, event, params)
        response = self.app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
        assert response.status_code == 202, response.text
        while work and self.run_worker(self.app):
            pass
        return response.json["event_id"]


@pytest.fixture
def seed(log_app: Flask, run_worker) -> Seeder:
    return Seeder(log_app, run_worker)


def cli(app: Flask, *args: str, input: str | None = None) -> Any:
    """Run a `flask --app wsgi …` command in the app, as the flask command does (in its context)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args), input=input)
