"""What the bridge's logs say about a request, decided here and nowhere else.

One log line per request: method, route pattern, status and duration. Never the path, which
may hold a secret (the Pagos360 notification URL is `/webhooks/pagos360/<token>`) or personal
data (a phone number typed into a URL), and never the query string (the log page's search for
a phone number). Health checks and metric scrapes are left out: load balancers and Prometheus
call them every few seconds. Flask's own "Exception on …" line is rewritten the same way.
"""

from __future__ import annotations

import logging
import time
from types import MethodType
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger("bridge.requests")
QUIET = ("/healthz", "/readyz", "/metrics", "/log/static/")
# The label of a request no route matched (a 404): one fixed word, whatever the path was.
NO_ROUTE = "(no route)"


def route_label() -> str:
    """The route pattern the request matched (`/webhooks/pagos360/<token>`), or NO_ROUTE.

    A method the route does not take (a GET on a POST-only URL: 405) still names its route:
    that is the case where the path, token included, used to reach the log.
    """
    if request.url_rule is not None:
        return request.url_rule.rule
    failure = request.routing_exception
    if isinstance(failure, MethodNotAllowed) and failure.valid_methods:
        adapter = current_app.create_url_adapter(request)
        try:
            rule, _ = adapter.match(method=next(iter(failure.valid_methods)), return_rule=True)  # type: ignore[union-attr]
        except HTTPException:
            return NO_ROUTE
        return rule.rule
    return NO_ROUTE


def install_request_log(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        if not request.path.startswith(QUIET):
            route = route_label()
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

    app.log_exception = MethodType(_log_exception, app)  # type: ignore[method-assign]


def _log_exception(app: Flask, exc_info: Any) -> None:
    # Flask's own version logs f"Exception on {request.path}": the route instead.
    app.logger.error("Exception on %s [%s]", route_label(), request.method, exc_info=exc_info)
