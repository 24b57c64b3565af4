"""One log line per request: method, route pattern (never a path, which may hold a token),
status and duration. Health checks and metric scrapes are left out: load balancers and
Prometheus call them every few seconds."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

log = logging.getLogger("bridge.requests")
QUIET = ("/healthz", "/readyz", "/metrics", "/log/static/")


def install_request_log(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        if not request.path.startswith(QUIET):
            route = request.url_rule.rule if request.url_rule else "(no route)"
            duration_ms = round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1)
            log.info(
                "%s %s %s %.1fms",
                request.method,
                route,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
        return response
