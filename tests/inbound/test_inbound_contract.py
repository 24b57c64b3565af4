"""The contract every inbound endpoint keeps, written once and run for each source.

As django-anymail tests its webhooks, the tests live in one base class (`InboundContract`)
and each inbound source describes itself in a small subclass: the settings that turn its
endpoint on, how to build a request it accepts (and one a given number of bytes longer),
how to spoil that request's authentication, what it takes for a malformed body, what a
resend of the same event looks like, the status it answers for each refusal, and what one
accepted request stores. Against that description, for every source:

- an accepted request stores exactly what the source declares, and its answer names the
  record (in JSON, or where the source's caller wants it: Twilio's inbound webhook, TwiML);
- the same event sent again has its effect once, and the answer names the same record;
- a body of exactly MAX_BODY_BYTES is accepted, and one byte more is refused, whether the
  request says its length or sends it chunked (over real HTTP);
- every refusal gets the source's declared status and a JSON error body, stores nothing
  (events, Actions, their states and transitions, attempts, queued jobs), and is logged in
  one line, with no token, secret or signature in any line the request caused.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from bridge.inbound.signing import signed_request
from bridge.services import Services, services
from bridge.store.models import Action, ActionTransition, Attempt, Event
from tests.conftest import AppFactory
from tests.helpers import SECRET, count, load_form, load_sample, serve_app

# The refusals every source is held to; a source declares the status it answers for each
# one that applies to it (an endpoint that is always on cannot be "not configured").
NO_CREDENTIALS = "no credentials"
WRONG_CREDENTIALS = "wrong credentials"
WRONG_CONTENT_TYPE = "another content type"
NO_CONTENT_TYPE = "no content type"
TOO_LARGE = "one byte over MAX_BODY_BYTES"
MALFORMED = "malformed body"
WRONG_METHOD = "GET instead of POST"
NOT_CONFIGURED = "endpoint not configured"

BODY_LIMIT = 4096  # MAX_BODY_BYTES for the size tests: small, so the bodies stay small too


@dataclass(frozen=True)
class Post:
    """One request to an inbound endpoint, exactly as it goes on the wire."""

    path: str
    body: bytes
    headers: dict[str, str]
    method: str = "POST"

    def send(self, app: Flask) -> TestResponse:
        return app.test_client().open(self.path, method=self.method, data=self.body, headers=self.headers)

    def with_headers(self, **changes: str | None) -> Post:
        """A copy with headers replaced (`None` removes one); names are matched in any case."""
        wanted = {name.replace("_", "-").lower(): value for name, value in changes.items()}
        kept = {name: value for name, value in self.headers.items() if name.lower() not in wanted}
        return replace(self, headers={**kept, **{k: v for k, v in wanted.items() if v is not None}})


def stored(svc: Services) -> Counter[str]:
    """Everything an inbound request can leave behind, as counts: events, Actions by state,
    transitions, attempts and jobs waiting on the queue. Two equal results mean nothing was
    stored, moved or queued in between."""
    with svc.db.session() as session:
        states = session.execute(select(Action.state, func.count()).group_by(Action.state)).all()
    found: Counter[str] = Counter({f"actions {state}": number for state, number in states})
    found.update(
        events=count(svc, Event),
        transitions=count(svc, ActionTransition),
        attempts=count(svc, Attempt),
        jobs=svc.queue.depth(),
    )
    return +found  # without the zero counts, so that a declared effect reads as it is written


def added(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    """What `after` holds more (or, negative, less) than `before`."""
    return {key: after[key] - before[key] for key in before.keys() | after.keys() if after[key] != before[key]}


class InboundContract:
    """The contract's tests. A subclass (collected as `Test…`) describes one source."""

    # -- what a source declares ----------------------------------------------------------
    settings: ClassVar[dict[str, Any]]  # what the app needs for the endpoint to be on
    accepted_status: ClassVar[int]
    # The key of the accepted answer that names what the request was recorded as.
    answer_names: ClassVar[str]
    # What one accepted request adds to `stored`, e.g. {"events": 1, "actions queued": 1}.
    effect: ClassVar[dict[str, int]]
    # The refusal kinds above that apply to this source, with the status it answers.
    refusals: ClassVar[dict[str, int]]
    # A content type a caller could plausibly send by mistake (another source's).
    foreign_content_type: ClassVar[str]

    def prepare(self, svc: Services) -> None:
        """What must be stored before the source's requests mean anything (default: nothing)."""

    def request(self, *, filler: int = 0) -> Post:
        """A request the source accepts, for a new event each time it is called. `filler`
        makes its body exactly that many bytes longer (still accepted, still authentic)."""
        raise NotImplementedError

    def resend(self, post: Post) -> Post:
        """The same event sent again, as the source itself would resend it."""
        raise NotImplementedError

    def without_credentials(self, post: Post) -> Post:
        raise NotImplementedError

    def with_wrong_credentials(self, post: Post) -> Post:
        raise NotImplementedError

    def malformed(self) -> Post:
        """An authentic request whose body the source does not accept."""
        raise NotImplementedError

    def secrets(self, post: Post) -> list[str]:
        """What no log line may hold: the configured secret and the request's credentials."""
        raise NotImplementedError

    def named_in(self, response: TestResponse) -> int:
        """The id of what an accepted request was recorded as, from the answer (default: the
        JSON key `answer_names`; a source whose caller wants another format says where)."""
        return response.get_json()[self.answer_names]

    # -- the contract --------------------------------------------------------------------
    def refused_request(self, kind: str) -> tuple[dict[str, Any], Post]:
        """The app's settings and the request that make the refusal `kind`."""
        settings = self.settings
        if kind == NO_CREDENTIALS:
            return settings, self.without_credentials(self.request())
        if kind == WRONG_CREDENTIALS:
            return settings, self.with_wrong_credentials(self.request())
        if kind == WRONG_CONTENT_TYPE:
            return settings, self.request().with_headers(content_type=self.foreign_content_type)
        if kind == NO_CONTENT_TYPE:
            return settings, self.request().with_headers(content_type=None)
        if kind == TOO_LARGE:
            over = self.request(filler=BODY_LIMIT - len(self.request().body) + 1)
            return {**settings, "MAX_BODY_BYTES": BODY_LIMIT}, over
        if kind == MALFORMED:
            return settings, self.malformed()
        if kind == WRONG_METHOD:
            return settings, replace(self.request(), method="GET", body=b"")
        if kind == NOT_CONFIGURED:
            return {}, self.request()  # the endpoint's settings left unset
        raise AssertionError(f"unknown refusal kind {kind!r}")

    @pytest.fixture
    def app(self, make_app: AppFactory) -> Flask:
        app = make_app(**self.settings)
        self.prepare(services(app))
        return app

    def test_an_accepted_request_stores_what_the_source_declares(self, app: Flask) -> None:
        svc = services(app)
        before = stored(svc)
        response = self.request().send(app)
        assert response.status_code == self.accepted_status, response.get_data(as_text=True)
        assert isinstance(self.named_in(response), int)
        assert added(before, stored(svc)) == self.effect

    def test_the_same_event_twice_has_one_effect(self, app: Flask, run_worker: Callable[..., int]) -> None:
        svc = services(app)
        before = stored(svc)
        first = self.request()
        answers = [post.send(app) for post in (first, self.resend(first))]
        assert [a.status_code for a in answers] == [self.accepted_status] * 2, answers[1].get_data(as_text=True)
        assert self.named_in(answers[0]) == self.named_in(answers[1])
        assert added(before, stored(svc)) == self.effect
        # And once its jobs have run, one set of Actions: none planned twice.
        run_worker(app)
        with svc.db.session() as session:
            planned = session.execute(select(Action.event_id, Action.hook, Action.channel, Action.recipient)).all()
        assert len(planned) == len(set(planned)), planned

    def test_a_body_of_exactly_the_size_limit_is_accepted(self, make_app: AppFactory) -> None:
        app = make_app(**self.settings, MAX_BODY_BYTES=BODY_LIMIT)
        self.prepare(services(app))
        shortfall = BODY_LIMIT - len(self.request().body)
        post = self.request(filler=shortfall)
        assert len(post.body) == BODY_LIMIT  # the description's filler is exact
        response = post.send(app)
        assert response.status_code == self.accepted_status, response.get_data(as_text=True)[:300]

    def test_the_size_limit_holds_for_a_body_sent_without_its_length(self, make_app: AppFactory) -> None:
        """Over real HTTP, chunked: no Content-Length tells the bridge the size beforehand."""
        app = make_app(**self.settings, MAX_BODY_BYTES=BODY_LIMIT)
        svc = services(app)
        self.prepare(svc)
        at_limit = self.request(filler=BODY_LIMIT - len(self.request().body))
        over = self.request(filler=BODY_LIMIT - len(self.request().body) + 1)
        with serve_app(app) as base:
            assert chunked(base, at_limit).status_code == self.accepted_status
            accepted = stored(svc)
            refused = chunked(base, over)
        assert refused.status_code == self.refusals[TOO_LARGE], refused.text[:300]
        assert refused.json()["error"] and stored(svc) == accepted

    def test_a_refused_request_is_answered_as_declared_and_stores_nothing(
        self, refusal: str, make_app: AppFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        settings, post = self.refused_request(refusal)
        app = make_app(**settings)
        svc = services(app)
        self.prepare(svc)
        before = stored(svc)
        with caplog.at_level(logging.INFO):
            response = post.send(app)
        status = self.refusals[refusal]
        assert response.status_code == status, response.get_data(as_text=True)[:300]
        assert response.is_json and isinstance(response.get_json().get("error"), str), response.get_data()[:300]
        assert response.get_json()["error"]
        assert stored(svc) == before
        rejected = [r for r in caplog.records if r.name == "bridge.webhooks"]
        assert len(rejected) == 1 and f": {status} " in rejected[0].getMessage(), caplog.text
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
        leaked = [secret for secret in self.secrets(post) if secret in caplog.text]
        assert leaked == [], caplog.text


def chunked(base_url: str, post: Post) -> requests.Response:
    """Send the request over HTTP in chunks of 1,000 bytes, without a Content-Length."""
    pieces = (post.body[start : start + 1000] for start in range(0, len(post.body), 1000))
    return requests.request(post.method, base_url + post.path, data=pieces, headers=post.headers, timeout=30)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One refusal test per kind the source declares, named after the kind."""
    if "refusal" in metafunc.fixturenames and metafunc.cls is not None:
        kinds = list(metafunc.cls.refusals)
        metafunc.parametrize("refusal", kinds, ids=[kind.replace(" ", "-") for kind in kinds])


# -- WHMCS -------------------------------------------------------------------------------

OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody-else-entirely-123456").decode()


class TestWhmcs(InboundContract):
    """POST /webhooks/whmcs: hook events signed in the Standard Webhooks form. The secret
    always has a value (a development one by default), so it cannot be "not configured"."""

    settings: ClassVar[dict[str, Any]] = {}
    accepted_status = 202
    answer_names = "event_id"
    effect: ClassVar[dict[str, int]] = {"events": 1, "actions queued": 1, "transitions": 1, "jobs": 1}
    refusals: ClassVar[dict[str, int]] = {
        NO_CREDENTIALS: 401,
        WRONG_CREDENTIALS: 401,
        WRONG_CONTENT_TYPE: 415,
        NO_CONTENT_TYPE: 415,
        TOO_LARGE: 413,
        MALFORMED: 400,
        WRONG_METHOD: 405,
    }
    foreign_content_type = "application/x-www-form-urlencoded"

    def request(self, *, filler: int = 0) -> Post:
        params = {**load_sample("whmcs_hooks", "ClientAdd"), "filler": "x" * filler}
        body, headers = signed_request(SECRET, "ClientAdd", params)  # a new webhook-id each time
        return Post("/webhooks/whmcs", body, headers)

    def resend(self, post: Post) -> Post:
        # The PHP hook file's spool resends with the same webhook-id and body, signed anew.
        later = datetime.fromtimestamp(int(post.headers["webhook-timestamp"]), UTC) + timedelta(seconds=30)
        params, webhook_id = json.loads(post.body)["params"], post.headers["webhook-id"]
        body, headers = signed_request(SECRET, "ClientAdd", params, webhook_id=webhook_id, timestamp=later)
        assert body == post.body
        return Post(post.path, body, headers)

    def without_credentials(self, post: Post) -> Post:
        return post.with_headers(webhook_signature=None)

    def with_wrong_credentials(self, post: Post) -> Post:
        body, headers = signed_request(OTHER_SECRET, "ClientAdd", json.loads(post.body)["params"])
        return Post(post.path, body, headers)

    def malformed(self) -> Post:
        """Broken JSON, signed as it is: the signature is right, the body is not."""
        raw = b'{"event": "ClientAdd", "params": {'
        webhook_id, when = "msg_malformed", datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(SECRET).sign(webhook_id, when, raw.decode()),
        }
        return Post("/webhooks/whmcs", raw, headers)

    def secrets(self, post: Post) -> list[str]:
        found = [SECRET, SECRET.removeprefix("whsec_"), OTHER_SECRET.removeprefix("whsec_")]
        return found + [s for s in post.headers.get("webhook-signature", "").split() if s]


# -- Pagos360 ----------------------------------------------------------------------------

PAGOS360_TOKEN = "t0ken-for-pagos360-notifications-0123456789"
DEBIT_IDS = itertools.count(553202)


class TestPagos360(InboundContract):
    """POST /webhooks/pagos360/<token>: notifications with no signature, kept out by the
    secret token in the URL. Deliberately different (README, *Card direct debit*): a wrong or
    missing token is 404, not 401, so that the endpoint is not even confirmed to exist, and
    an accepted notification is 200 (Pagos360 resends anything else)."""

    settings: ClassVar[dict[str, Any]] = {"PAGOS360_WEBHOOK_TOKEN": PAGOS360_TOKEN}
    accepted_status = 200
    answer_names = "event_id"
    effect: ClassVar[dict[str, int]] = {"events": 1, "actions queued": 1, "transitions": 1, "jobs": 1}
    refusals: ClassVar[dict[str, int]] = {
        NO_CREDENTIALS: 404,
        WRONG_CREDENTIALS: 404,
        WRONG_CONTENT_TYPE: 415,
        NO_CONTENT_TYPE: 415,
        TOO_LARGE: 413,
        MALFORMED: 400,
        WRONG_METHOD: 405,
        NOT_CONFIGURED: 404,
    }
    foreign_content_type = "application/x-www-form-urlencoded"

    def request(self, *, filler: int = 0) -> Post:
        # Another debit request each time (ids of one length, so that `filler` stays exact).
        note = {**load_sample("pagos360", "webhook.card_debit_request.paid"), "entity_id": next(DEBIT_IDS)}
        note["payload"] = {**note.get("payload", {}), "filler": "x" * filler}
        body = json.dumps(note).encode()
        return Post(f"/webhooks/pagos360/{PAGOS360_TOKEN}", body, {"content-type": "application/json"})

    def resend(self, post: Post) -> Post:
        return post  # Pagos360 resends the notification as it was

    def without_credentials(self, post: Post) -> Post:
        return replace(post, path="/webhooks/pagos360/")

    def with_wrong_credentials(self, post: Post) -> Post:
        return replace(post, path=f"/webhooks/pagos360/{PAGOS360_TOKEN[:-1]}x")

    def malformed(self) -> Post:
        return replace(self.request(), body=b'{"entity_name": "card_debit_request", "entity_id": ')

    def secrets(self, post: Post) -> list[str]:
        return [PAGOS360_TOKEN, PAGOS360_TOKEN[:-1]]


# -- Twilio ------------------------------------------------------------------------------

TWILIO_TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://bridge.hosting.example"
MESSAGE_SID = "SM" + "4" * 32


class TwilioSigned(InboundContract):
    """What Twilio's two webhooks share: form-encoded fields signed with X-Twilio-Signature
    over the public URL (`path` of PUBLIC), the same refusals, and Twilio's retries
    repeating the same fields and signature."""

    path: ClassVar[str]
    settings: ClassVar[dict[str, Any]] = {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "PUBLIC_BASE_URL": PUBLIC}
    accepted_status = 200
    refusals: ClassVar[dict[str, int]] = {
        NO_CREDENTIALS: 401,
        WRONG_CREDENTIALS: 401,
        WRONG_CONTENT_TYPE: 415,
        NO_CONTENT_TYPE: 415,
        TOO_LARGE: 413,
        MALFORMED: 400,
        WRONG_METHOD: 405,
        NOT_CONFIGURED: 404,
    }
    foreign_content_type = "application/json"

    def signed(self, params: dict[str, str], token: str = TWILIO_TOKEN) -> Post:
        signature = RequestValidator(token).compute_signature(f"{PUBLIC}{self.path}", params)
        headers = {"content-type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        return Post(self.path, urlencode(params).encode(), headers)

    def resend(self, post: Post) -> Post:
        return post  # Twilio retries a callback with the same fields and signature

    def without_credentials(self, post: Post) -> Post:
        return post.with_headers(x_twilio_signature=None)

    def with_wrong_credentials(self, post: Post) -> Post:
        fields = dict(parse_qsl(post.body.decode(), keep_blank_values=True))
        signed_by_another = self.signed(fields, token="not-the-auth-token")
        return post.with_headers(x_twilio_signature=signed_by_another.headers["X-Twilio-Signature"])

    def secrets(self, post: Post) -> list[str]:
        return [TWILIO_TOKEN, *([post.headers["X-Twilio-Signature"]] if "X-Twilio-Signature" in post.headers else [])]


class TestTwilioStatus(TwilioSigned):
    """POST /webhooks/twilio/status: delivery receipts. A receipt for a message the bridge
    sent moves its Action (and stores no event); a repeat moves nothing, and its answer names
    the same Action with the state "unchanged"."""

    path = "/webhooks/twilio/status"
    answer_names = "action_id"
    effect: ClassVar[dict[str, int]] = {"actions sent": -1, "actions delivered": 1, "transitions": 1}

    def prepare(self, svc: Services) -> None:
        """A WhatsApp message the bridge sent, which Twilio knows as MESSAGE_SID."""
        with svc.db.session() as session:
            event = Event(source="whmcs", type="ClientAdd", external_id="msg_sent", payload={}, client_id="1042")
            session.add(event)
            session.flush()
            session.add(
                Action(
                    event_id=event.id,
                    hook="clients.welcome",
                    channel="whatsapp",
                    recipient="+5493515551234",
                    content={"body": "Hola"},
                    state="sent",
                    attempts=1,
                    provider_ref=MESSAGE_SID,
                )
            )

    def request(self, *, filler: int = 0, sid: str = MESSAGE_SID) -> Post:
        params = {
            "MessageSid": sid,
            "MessageStatus": "delivered",
            "AccountSid": "AC" + "2" * 32,
            "To": "whatsapp:+5493515551234",
            "Filler": "x" * filler,
        }
        return self.signed(params)

    def malformed(self) -> Post:
        return self.signed({"AccountSid": "AC" + "2" * 32})  # signed, but without MessageSid and MessageStatus

    def test_a_repeated_receipt_for_an_unknown_message_is_one_event(self, app: Flask) -> None:
        svc = services(app)
        before = stored(svc)
        unknown = self.request(sid="SM" + "5" * 32)
        answers = [unknown.send(app), self.resend(unknown).send(app)]
        assert [a.status_code for a in answers] == [200, 200]
        assert added(before, stored(svc)) == {"events": 1}


class TestTwilioInbound(TwilioSigned):
    """POST /webhooks/twilio/inbound: a customer's WhatsApp message. It is one event (and its
    planning) per MessageSid, answered with empty TwiML that names the event in
    X-Bridge-Event-Id."""

    path = "/webhooks/twilio/inbound"
    answer_names = "X-Bridge-Event-Id"
    effect: ClassVar[dict[str, int]] = {"events": 1, "actions queued": 1, "transitions": 1, "jobs": 1}
    _sids = itertools.count(1)

    def named_in(self, response: TestResponse) -> int:
        assert response.mimetype == "text/xml" and response.get_data(as_text=True).endswith("<Response></Response>")
        return int(response.headers[self.answer_names])

    def request(self, *, filler: int = 0) -> Post:
        params = load_form("inbound.text")
        params["MessageSid"] = f"SM{next(self._sids):032x}"
        params["Filler"] = "x" * filler  # a field Twilio does not send: kept, signed, never refused
        return self.signed(params)

    def malformed(self) -> Post:
        params = load_form("inbound.text")
        del params["MessageSid"]  # signed, but no id to tell one message from a resend
        return self.signed(params)
