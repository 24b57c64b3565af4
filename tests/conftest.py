"""Shared fixtures: a migrated database and a Redis for the session, emptied per test,
an app built on them, signed requests, and an in-process RQ worker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import delete

from bridge import create_app, jobs
from bridge.inbound.signing import signed_request
from bridge.services import Services, services
from bridge.store.db import Database
from bridge.store.migrate import upgrade
from bridge.store.models import (
    Action,
    ActionTransition,
    ApiToken,
    Attempt,
    AuditEntry,
    CardAdhesion,
    DebitPayment,
    DebitRequest,
    Event,
    HealthCheck,
    KnownPhone,
    LoginFailure,
    OrderActivation,
    ScheduledNotice,
    ScheduledRun,
    ServiceCancellation,
    StaffUser,
    WhatsAppConversation,
    WhatsAppNumber,
    WhatsAppTemplate,
)
from tests import backends
from tests.helpers import SECRET, customer_wrote, load_sample


def pytest_report_header() -> str:
    return f"bridge backends: {backends.describe()}"


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bridge")


@pytest.fixture(scope="session")
def database_url(session_tmp: Path) -> Iterator[str]:
    with backends.database_url(session_tmp) as url:
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url


@pytest.fixture(scope="session")
def redis_url(session_tmp: Path) -> Iterator[str]:
    with backends.redis_url(session_tmp) as url:
        yield url


@pytest.fixture
def base_config(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    """Settings every test app starts from; tests add or override keys."""
    return {
        "BRIDGE_ENV": "test",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WHMCS_WEBHOOK_SECRET": SECRET,
        "RETRY_BASE_SECONDS": 1,
        "RELAY_QUEUED_GRACE_SECONDS": 0,
        "WHMCS_SYSTEM_URL": "https://clientes.example.com/",
    }


class AppFactory:
    """Builds apps with extra settings; the last one built is the one jobs run in."""

    def __init__(self, base_config: dict[str, Any]) -> None:
        self.base_config = base_config
        self.built: list[Flask] = []

    def __call__(self, **overrides: Any) -> Flask:
        app = create_app({**self.base_config, **overrides}, environ={})
        app.testing = True
        self.built.append(app)
        return app

    @property
    def last(self) -> Flask:
        return self.built[-1]

    def close(self) -> None:
        jobs.bind_app(None)
        for app in self.built:
            services(app).db.dispose()


@pytest.fixture
def make_app(base_config: dict[str, Any]) -> Iterator[AppFactory]:
    factory = AppFactory(base_config)
    yield factory
    factory.close()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture(autouse=True)
def _clean_state(database_url: str, redis_url: str) -> Iterator[None]:
    Redis.from_url(redis_url).flushdb()
    db = Database(database_url)
    with db.session() as session:
        for model in (
            WhatsAppConversation,
            WhatsAppNumber,
            KnownPhone,
            WhatsAppTemplate,
            AuditEntry,
            LoginFailure,
            StaffUser,
            ApiToken,
            OrderActivation,
            ServiceCancellation,
            ScheduledNotice,
            HealthCheck,
            DebitPayment,
            DebitRequest,
            CardAdhesion,
            ScheduledRun,
            Attempt,
            ActionTransition,
            Action,
            Event,
        ):
            session.execute(delete(model))
    db.dispose()
    yield


@pytest.fixture
def the_customer_wrote(database_url: str, _clean_state: None) -> None:
    """The sample client (+5493515551234) wrote to the company an hour ago: their 24-hour
    WhatsApp window is open, so free-form messages go to them. For the tests of delivery
    itself (retries, receipts, pacing); the window rule has its own, in
    tests/work/test_whatsapp_gate.py."""
    customer_wrote(database_url)


@pytest.fixture
def svc(app: Flask) -> Services:
    return services(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def post_event(client: FlaskClient) -> Callable[..., Any]:
    """POST a signed WHMCS event; `params` defaults to the shared sample for the event."""

    def post(event: str = "ClientAdd", params: dict[str, Any] | None = None, secret: str = SECRET, **kw: Any) -> Any:
        params = params if params is not None else load_sample("whmcs_hooks", event)
        body, headers = signed_request(secret, event, params, **kw)
        return client.post("/webhooks/whmcs", data=body, headers=headers)

    return post


class _CountingWorker(SimpleWorker):
    jobs_run = 0

    def execute_job(self, job: Any, queue: Any) -> Any:
        self.jobs_run += 1
        return super().execute_job(job, queue)


@pytest.fixture
def run_worker(make_app: AppFactory) -> Callable[..., int]:
    """Run every queued job in this process with RQ's SimpleWorker; returns how many ran.

    Jobs run in the app given, or else in the last app the test built."""

    def run(app: Flask | None = None) -> int:
        app = app or make_app.last
        svc = services(app)
        jobs.bind_app(app)
        worker = _CountingWorker([svc.queue.queue], connection=svc.redis)
        worker.work(burst=True, logging_level=logging.WARNING, with_scheduler=False)
        return worker.jobs_run

    return run
