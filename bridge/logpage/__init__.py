"""The delivery log: what staff see, search, retry and export (issue 5).

It only reads the bridge's tables. Whatever it changes goes through the existing write
paths (bridge.store.transitions.move, bridge.store.outbox.store_planned, bridge.store.queueing.requeue), so
every change is a recorded transition, and every staff act is also an AuditEntry.
"""

from __future__ import annotations

from flask import Flask


def init_logpage(app: Flask) -> None:
    """Secret key, cookies, headers and CSRF; the login manager; the page and API blueprints.

    Routes name row ids as `<id:…>` (bridge.logpage.ids): an id no column can hold is a 404
    before any query. The converter is registered before the blueprints that use it."""
    from bridge.logpage import api, auth, security, views
    from bridge.logpage.ids import IdConverter

    app.url_map.converters["id"] = IdConverter
    security.configure(app)
    auth.login_manager.init_app(app)
    app.register_blueprint(views.blueprint)
    app.register_blueprint(api.blueprint)
