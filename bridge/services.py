"""Everything the app built at start-up, kept in `app.extensions["bridge"]`.

State only: what builds these parts, and the workers over them (the Deliverer, the
Relay), is `bridge.wiring`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app
from redis import Redis

from bridge.core.catalog import Catalog
from bridge.core.settings import Settings
from bridge.store.db import Database
from bridge.store.queue import ActionQueue
from providers import Provider
from providers.pagos360 import Pagos360Api
from providers.whmcs_api import WhmcsApi

if TYPE_CHECKING:  # only the annotation needs it (tools/import_graph.py counts it all the same)
    from hooks import HookRegistry


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: Redis
    queue: ActionQueue
    catalog: Catalog
    hooks: HookRegistry
    providers: dict[str, Provider]
    whmcs: WhmcsApi | None
    pagos360: Pagos360Api | None


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions["bridge"]
