"""`flask --app wsgi metrics-server`: a machine's METRICS_DIR over HTTP, for worker machines.

When the workers and the relay run on a machine without the web, the web's /metrics
cannot read their files; this serves the same sum (the counters of every process on this
machine) at `http://HOST:PORT/metrics` for Prometheus to scrape as a second target. It
leaves out the database and queue gauges: the web's /metrics has them, and two targets
reporting them would count them twice in a sum. METRICS_TOKEN is asked for here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import click
from flask import current_app

from bridge.services import services

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck scraper must not keep the process from stopping


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape every few seconds is noise


def metrics_app(directory: Path, token: str | None) -> Wsgi:
    """prometheus_client's WSGI app over `directory`, behind the bearer token when one is set."""
    from prometheus_client import CollectorRegistry, make_wsgi_app
    from prometheus_client.multiprocess import MultiProcessCollector

    from bridge.ops.metrics_endpoint import bearer_token_matches

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    inner = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"metrics are at /metrics\n"]
        if token and not bearer_token_matches(environ.get("HTTP_AUTHORIZATION", ""), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"a token is needed: Authorization: Bearer <METRICS_TOKEN>\n"]
        return inner(environ, start_response)

    return app


def build_server(directory: Path, host: str, port: int, token: str | None) -> WSGIServer:
    return make_server(host, port, metrics_app(directory, token), server_class=_Server, handler_class=_QuietHandler)


@click.command("metrics-server")
# All interfaces by default: the point is to be scraped from the Prometheus machine.
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")  # noqa: S104
@click.option("--port", default=9101, show_default=True, type=click.IntRange(0, 65535))
def metrics_server_command(host: str, port: int) -> None:
    """Serve this machine's METRICS_DIR at /metrics (worker machines without the web)."""
    settings = services(current_app).settings
    directory = Path(settings.metrics_dir).resolve()
    server = build_server(directory, host, port, settings.metrics_token)
    click.echo(f"metrics-server: {directory} at http://{host}:{server.server_port}/metrics", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
