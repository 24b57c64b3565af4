"""The app without its `flask` commands: what serves requests and runs queue jobs.

`bridge.create_app` adds the commands (bridge.cli) on top; a queue job built outside any
command (`rq worker`, bridge.jobs) needs only this. Keeping the commands out is what lets
the worker command hand its app to bridge.jobs without the two importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from bridge.services import Services


def build_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """`bridge.create_app` without the commands; the same arguments, settings checks and errors."""
    # Imported here, not at module level: `hooks` imports bridge modules, and keeping
    # the package's own import free of it lets either be imported first.
    from pathlib import Path

    import hooks
    from bridge import metrics
    from bridge.core.catalog import Catalog
    from bridge.core.settings import load_settings
    from bridge.inbound import register_webhooks
    from bridge.logpage import init_logpage
    from bridge.ops import health
    from bridge.ops.logging_setup import configure_logging
    from bridge.ops.redis_connection import connect_redis
    from bridge.ops.redis_embedded import ensure_embedded_redis
    from bridge.ops.request_log import install_request_log
    from bridge.services import Services
    from bridge.store.db import Database
    from bridge.store.queue import ActionQueue
    from bridge.wiring import build_pagos360_api, build_providers, build_whmcs_api

    settings = load_settings(overrides=config, environ=environ)
    metrics.configure(settings.metrics_dir)  # before anything imports prometheus_client
    configure_logging(settings.log_format)
    # Named "bridge" as when this was built in the package's __init__: the name is the app's
    # logger name and where Flask looks for templates.
    app = Flask("bridge", instance_path=str(Path(settings.instance_path).resolve()))
    if settings.trusted_proxy_count:
        # Only the hops our own proxies appended are believed: anything to their left in
        # X-Forwarded-For was written by the client and could name anyone's address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count)  # type: ignore[method-assign]
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, SECRET_KEY=settings.secret_key)
    redis_url = settings.redis_url or ensure_embedded_redis(settings.instance_path)
    redis = connect_redis(redis_url)
    longest_call = max(
        settings.twilio_timeout_seconds, settings.smtp_timeout_seconds, settings.whmcs_api_timeout_seconds
    )
    app.extensions["bridge"] = Services(
        settings=settings,
        db=Database(settings.database_url),
        redis=redis,
        queue=ActionQueue(redis, settings.queue_name, job_timeout=longest_call * 4),
        catalog=Catalog(Path(settings.bridge_config_dir), settings.default_language),
        hooks=hooks.load_all(),
        providers=build_providers(settings),
        whmcs=build_whmcs_api(settings),
        pagos360=build_pagos360_api(settings),
    )
    app.config["BRIDGE_REDIS_URL"] = redis_url
    register_webhooks(app)
    init_logpage(app)
    app.register_blueprint(health.blueprint)
    # Imported only now: the endpoint imports prometheus_client, which must come after
    # `metrics.configure` (bridge.metrics).
    from bridge.ops import metrics_endpoint

    metrics_endpoint.register(app)
    install_request_log(app)
    if settings.bridge_env == "production":
        refuse_unheard_staff_alerts(app.extensions["bridge"])
        report_missing_templates(app.extensions["bridge"])
    return app


def refuse_unheard_staff_alerts(svc: Services) -> None:
    """Production start-up refuses a routing in which a notice staff must hear (a rejected
    debit, a failed set-up, an order to activate by hand, ...: MUST_REACH_STAFF) reaches no
    staff group with an address: such an alert would be planned for nobody."""
    from bridge.core.settings import SettingsError

    unheard = svc.catalog.staff.unheard()
    if unheard:
        raise SettingsError(
            "refusing to start in production: no staff group with an email or WhatsApp number hears "
            + ", ".join(unheard)
            + f" (routing.toml [staff] in {svc.catalog.config_dir}: give `default` an address, or route them)"
        )


def report_missing_templates(svc: Services) -> None:
    """Production start-up says which WhatsApp notices have no approved template: outside
    the 24-hour window WhatsApp would not deliver them (`flask --app wsgi templates sync`)."""
    import logging

    from sqlalchemy.exc import SQLAlchemyError

    from bridge.store.templates import missing_templates

    log = logging.getLogger("bridge.startup")
    try:
        with svc.db.session() as session:
            missing = missing_templates(session, svc.catalog, dry_run=not svc.settings.twilio_configured)
    except SQLAlchemyError as exc:  # not migrated yet: `flask --app wsgi migrate` says so
        log.warning("could not read the WhatsApp templates: %s", type(exc).__name__)
        return
    if missing:
        listed = ", ".join(f"{event} ({language})" for event, language in missing)
        log.warning(
            "%d WhatsApp notices have no approved template and reach customers only inside the 24-hour"
            " window: %s; run `flask --app wsgi templates sync`, then `templates status`",
            len(missing),
            listed,
        )
