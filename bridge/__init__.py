"""The bridge: `create_app` is the one way to build it. This package's own modules are the
assembly (app, cli, wiring, services, jobs); its sub-packages are the steps of the flow (README,
"How it works")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment, with `config` (variable names) on top.

    `environ` replaces os.environ and `.env` (the tests pass their own, so that a
    developer's shell or `.env` never leaks into them).

    Raises SettingsError, naming the variable, when a setting is missing or malformed.
    Migrations are not applied here (several web processes would race); the run
    command and `flask --app wsgi migrate` apply them.
    """
    from bridge.app import build_app
    from bridge.cli import register_commands

    app = build_app(config, environ)
    register_commands(app)
    return app
