"""Inbound endpoints: verify, parse, record. They never send anything themselves.

Each view turns its request into an InboundEvent (bridge.core.events), hands it to the
intake, answers, and only then offers the new Actions to the queue. What the views share
(the Rejected refusal, the JSON body checks, the refusal answer) is in
bridge.inbound.rejections, so that the views never import this package back.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from bridge.core.events import BRIDGE_SOURCE, InboundRefused
from bridge.inbound import openapi, pagos360, twilio_inbound, twilio_status, whmcs
from bridge.inbound.rejections import MACHINE_PATHS, Rejected, rejection

# Every inbound endpoint, each declared by its own module (bridge.inbound.sources).
SOURCES = (whmcs.SOURCE, pagos360.SOURCE, twilio_status.SOURCE, twilio_inbound.SOURCE)


def event_sources() -> tuple[str, ...]:
    """Every Event.source there is: the inbound sources' and the bridge's own (its
    scheduled jobs), for the delivery log's filter."""
    return (*dict.fromkeys(source.source for source in SOURCES), BRIDGE_SOURCE)


def register_webhooks(app: Flask) -> None:
    app.extensions["bridge.inbound_sources"] = SOURCES
    app.register_blueprint(openapi.blueprint)
    for source in SOURCES:
        app.register_blueprint(source.blueprint)

    @app.errorhandler(Rejected)
    def _rejected(exc: Rejected) -> Response:
        return rejection(exc.status, exc.error, exc.reason, **exc.detail)

    @app.errorhandler(InboundRefused)
    def _refused(exc: InboundRefused) -> Response:
        # A body or an id the bridge cannot store (bridge.inbound.parse): the client's fault,
        # answered with the reason, logged in one line like every refusal.
        detail = {"field": exc.field} if exc.field else {}
        return rejection(400, exc.message, exc.reason, **detail)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        # JSON errors for the machine endpoints (413 from MAX_CONTENT_LENGTH, 404, 405...);
        # the staff's pages keep Flask's own HTML error pages.
        if request.path.startswith(MACHINE_PATHS):
            return rejection(exc.code or 500, exc.description or exc.name)
        return exc
