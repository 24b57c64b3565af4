"""When to try again: exponential backoff with jitter, as a value object."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        "Equal jitter": half the exponential step is fixed, half random, so retries of a
        burst spread out but never come back sooner than half the step. A provider's own
        Retry-After is a floor.
        """
        step = min(self.max_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        delay = step / 2 + (rng or random).uniform(0, step / 2)
        return max(delay, retry_after or 0.0)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
