"""Everything the app built at start-up, kept in `app.extensions["bridge"]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app
from redis import Redis

from bridge.catalog import Catalog
from bridge.db import Database
from bridge.delivery import Deliverer, Pacing
from bridge.planning import Planner
from bridge.queue import ActionQueue
from bridge.ratelimit import RateLimiter
from bridge.relay import Relay
from bridge.retry import RetryPolicy
from bridge.settings import Settings
from providers import Provider
from providers.pagos360 import Pagos360Api
from providers.whmcs_api import WhmcsApi

if TYPE_CHECKING:  # hooks imports bridge modules: a runtime import here would be circular
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

    @property
    def retry_policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(s.retry_max_attempts, s.retry_base_seconds, s.retry_max_seconds)

    def deliverer(self, worker_name: str = "") -> Deliverer:
        planner = Planner(self.db, self.hooks, self.catalog, self.settings, self.whmcs, self.pagos360)
        s = self.settings
        pacing = Pacing(
            limiter=RateLimiter(self.redis),
            per_second={"whatsapp": s.rate_limit_whatsapp_per_second, "email": s.rate_limit_email_per_second},
            max_wait=s.rate_limit_max_wait_seconds,
            throttle_pause=s.throttle_pause_seconds,
        )
        return Deliverer(self.db, self.queue, self.providers, planner, self.retry_policy, pacing, worker_name)

    def relay(self) -> Relay:
        s = self.settings
        return Relay(
            self.db,
            self.queue,
            self.retry_policy,
            grace_seconds=s.relay_queued_grace_seconds,
            sending_timeout_seconds=s.relay_sending_timeout_seconds,
        )


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions["bridge"]
