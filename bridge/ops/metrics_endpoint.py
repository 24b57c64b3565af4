"""GET /metrics: every process's counters from METRICS_DIR, plus the scrape-time gauges.

With METRICS_TOKEN set it asks for `Authorization: Bearer <token>`; without it, it is open
to whoever reaches the web port (a warning at start in production, see `register`). It
sits outside the delivery log: no session, no CSRF token, and no request log line
(bridge.ops.request_log) for a scrape every few seconds.

Imported by `create_app` after `bridge.metrics.configure` (it imports prometheus_client).
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

from flask import Blueprint, Flask, Response, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from bridge.ops.metrics_collector import StateCollector
from bridge.services import services

blueprint = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
    settings = services(app).settings
    if settings.bridge_env == "production" and not settings.metrics_token:
        # A warning, not a refusal: a scrape shows volumes and states, never a payload or a
        # recipient, and many set-ups keep the port private; but the web port faces WHMCS.
        log.warning("METRICS_TOKEN is not set: /metrics answers anyone who can reach this port")


def bearer_token_matches(header: str, token: str) -> bool:
    """`Authorization` header value is `Bearer <token>` (compared in constant time)."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def exposition(directory: Path, accept: str | None, extra: StateCollector | None = None) -> tuple[bytes, str]:
    """The sum of the files in `directory` (and `extra`'s gauges), encoded as `accept` asks."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    if extra is not None:
        registry.register(extra)
    encoder, content_type = choose_encoder(accept or "")  # what the library does with None too
    return encoder(registry), content_type


@blueprint.get("/metrics")
def metrics() -> Response:
    svc = services()
    token = svc.settings.metrics_token
    if token and not bearer_token_matches(request.headers.get("Authorization", ""), token):
        return Response(
            "a token is needed: Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": "Bearer"},
        )
    body, content_type = exposition(
        Path(svc.settings.metrics_dir).resolve(), request.headers.get("Accept"), StateCollector(svc)
    )
    return Response(body, content_type=content_type)
