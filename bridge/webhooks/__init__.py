"""Inbound endpoints: verify, parse, record. They never send anything themselves.

Each view turns its request into an InboundEvent (bridge.events), hands it to the
intake, answers, and only then offers the new Actions to the queue. What the views share
(the Rejected refusal, the JSON body checks, the refusal answer) is in
bridge.webhooks.rejections, so that the views never import this package back.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from bridge.inbound import InboundRefused
from bridge.webhooks import openapi, pagos360, twilio_status, whmcs
from bridge.webhooks.rejections import MACHINE_PATHS, Rejected, rejection


def register_webhooks(app: Flask) -> None:
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(whmcs.blueprint)
    app.register_blueprint(pagos360.blueprint)
    app.register_blueprint(twilio_status.blueprint)

    @app.errorhandler(Rejected)
    def _rejected(exc: Rejected) -> Response:
        return rejection(exc.status, exc.error, exc.reason, **exc.detail)

    @app.errorhandler(InboundRefused)
    def _refused(exc: InboundRefused) -> Response:
        # A body or an id the bridge cannot store (bridge.inbound): the client's fault,
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
